import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../relay/base/config.js';
import { createLogger } from '../../../relay/base/log.js';
import { startRelay, type RunningRelay } from '../../../relay/boot/runtime.js';
import { startSandbox, type RunningSandbox } from '../../../relay/sandbox/server.js';
import { openStore } from '../../../relay/store/index.js';
import { Summary } from '../../../shared/models.js';
import { eventually, tempDb } from '../../helpers/relay-process.js';
import { TEST_VAULT, TEST_VAULT_KEY } from '../../helpers/vault.js';
import { record } from '../store/helpers.js';

/**
 * SANDBOX_DEMO_EVERY_SECONDS goes from the environment, through the configuration, to the
 * embedded sandbox's demo timer (which the sandbox's control API reports).
 */

const relays: RunningRelay[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.close()));
});

/** A relay's environment against a sandbox the test started (API 3.0), with the relay's own credential. */
function againstSandbox(sandbox: RunningSandbox, credential: Record<string, string>, db = tempDb()): Record<string, string> {
  return {
    RELAY_DB: db,
    RELAY_PORT: '0',
    RELAY_API_KEYS: 'runtime-test-key-0123456789',
    RELAY_VAULT_KEY: TEST_VAULT_KEY,
    CONCUR_BASE_URL: sandbox.url,
    CONCUR_CLIENT_ID: sandbox.clientId,
    CONCUR_CLIENT_SECRET: sandbox.clientSecret,
    ...credential,
  };
}

async function demoOf(env: Record<string, string>): Promise<unknown> {
  const parsed = parseConfig({ RELAY_DB: tempDb(), RELAY_PORT: '0', ...env });
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  const relay = await startRelay(parsed.config, { logger: createLogger({ level: 'silent' }) });
  relays.push(relay);
  const info = (await (await fetch(`${relay.sandbox!.url}/_sandbox`)).json()) as { demo: unknown };
  return info.demo;
}

describe('the sandbox demo in sandbox mode', () => {
  it('adds a request every SANDBOX_DEMO_EVERY_SECONDS, every 30 s by default, never with 0', async () => {
    expect(await demoOf({})).toEqual({ everyMs: 30_000 });
    expect(await demoOf({ SANDBOX_DEMO_EVERY_SECONDS: '5' })).toEqual({ everyMs: 5_000 });
    expect(await demoOf({ SANDBOX_DEMO_EVERY_SECONDS: '0' })).toBeNull();
  });
});

describe('/metrics of a running relay', () => {
  it("carries the process's memory, event-loop lag and GC, and times every call to Concur by operation and outcome", async () => {
    const parsed = parseConfig({ RELAY_DB: tempDb(), RELAY_PORT: '0', SANDBOX_DEMO_EVERY_SECONDS: '0' });
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const relay = await startRelay(parsed.config, { logger: createLogger({ level: 'silent' }) });
    relays.push(relay);
    const scrape = async () => (await fetch(`${relay.url}/metrics`)).text();
    // The first poll runs at start; its list call is timed once it has answered, the poll once its
    // sweep has walked every list (3.0: pending, then processing), a little later.
    let text = '';
    const polled = (t: string) => /triplink_concur_request_duration_seconds_count\{operation="list",outcome="200"\} [1-9]/.test(t) && /^triplink_polls_total [1-9]/m.test(t);
    for (let i = 0; i < 100 && !polled(text); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      text = await scrape();
    }
    expect(text).toMatch(/triplink_concur_request_duration_seconds_count\{operation="list",outcome="200"\} [1-9]/);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds [\d.e-]+/m);
    expect(text).toMatch(/^# TYPE nodejs_gc_duration_seconds histogram$/m);
    expect(text).toMatch(/^triplink_polls_total [1-9]/m);
    // The sandbox's access token never appears, whatever the label values.
    expect(text).not.toContain(relay.sandbox!.accessToken);
  });
});

describe('the refresh-token grant', () => {
  it('sends the JWTs it gets as Bearer, whatever CONCUR_AUTH_SCHEME says, so Concur accepts them', async () => {
    const sandbox = await startSandbox({ seed: false, random: 9 });
    try {
      sandbox.state.add();
      const parsed = parseConfig(
        againstSandbox(sandbox, {
          CONCUR_REFRESH_TOKEN: sandbox.refreshToken,
          // The default for a static token (the seed's legacy scheme); an OAuth 2.0 token is no such token.
          CONCUR_AUTH_SCHEME: 'OAuth',
        }),
      );
      if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
      const relay = await startRelay(parsed.config, { logger: createLogger({ level: 'silent' }) });
      relays.push(relay);
      const summary = await eventually(() => relay.store.state.summary().concur.state !== 'unknown' && relay.store.state.summary());
      expect(summary.concur).toMatchObject({ state: 'ok', lastError: null });
      expect(summary.counts.pending).toBe(1);
      const listCalls = sandbox.calls.list().filter((call) => call.route === 'list');
      expect(listCalls.length).toBeGreaterThan(0);
      expect(listCalls.every((call) => call.authScheme === 'Bearer' && call.auth === 'ok')).toBe(true);
    } finally {
      await sandbox.close();
    }
  });
});

describe('sandbox mode connects for real', () => {
  it.each(['legacy', 'password'] as const)("exchanges with the sandbox's own client credentials (%s): CRSUC stores the traveller's tokens", async (form) => {
    const key = 'runtime-sandbox-key-0123456789';
    const parsed = parseConfig({ RELAY_DB: tempDb(), RELAY_PORT: '0', SANDBOX_DEMO_EVERY_SECONDS: '0', RELAY_API_KEYS: key, POLL_INTERVAL_SECONDS: '1', CONCUR_EXCHANGE: form });
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const relay = await startRelay(parsed.config, { logger: createLogger({ level: 'silent' }) });
    relays.push(relay);
    expect(relay.store.state.summary().exchange).toEqual({ state: 'ok', reason: null });
    const id = relay.sandbox!.state.add().id;
    await eventually(() => relay.store.requests.get(id) !== undefined);
    const res = await fetch(`${relay.url}/api/v1/requests/${id}/reply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'CRSUC' }),
    });
    expect(res.status).toBe(202);
    await eventually(() => relay.store.requests.get(id)?.reply?.state === 'sent');
    const connection = relay.store.connections.byRequest(id);
    expect(relay.store.connections.tokens(connection!.id)).toMatchObject({ form });
    expect(relay.sandbox!.state.get(id)!.status).toBe('Connected');
  });
});

describe('REPLY_RETRY_MAX_SECONDS', () => {
  it('caps how long the outbox waits between two tries of a reply (by default the wait doubles to 5 minutes)', async () => {
    const parsed = parseConfig({ RELAY_DB: tempDb(), RELAY_PORT: '0', SANDBOX_DEMO_EVERY_SECONDS: '0', RELAY_AUTO_REPLY: 'off', REPLY_RETRY_MAX_SECONDS: '1' });
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const relay = await startRelay(parsed.config, { logger: createLogger({ level: 'silent' }) });
    relays.push(relay);
    // Concur answers every PUT with 503: the reply is tried again and again.
    relay.sandbox!.faults.add({ route: 'put', kind: 'status503' });
    const [request] = await eventually(async () => {
      const { items } = await relay.store.requests.list({ group: 'pending', limit: 1 });
      return items.length > 0 ? items : undefined;
    });
    const asked = await fetch(`${relay.url}/api/v1/requests/${request!.id}/reply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${relay.generatedApiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'CRRET' }),
    });
    expect(asked.status).toBe(202);
    const reply = await eventually(async () => {
      // The one reply, whenever it is due (the relay on SQLite is its only claimant).
      const [now] = await relay.store.replies.due(Date.now() + 3_600_000, 1);
      return now !== undefined && now.attempts >= 4 ? now : undefined;
    });
    expect(reply.state).toBe('queued');
    // After a fourth 503 the default would wait 4 to 8 s; here never more than a second.
    expect(Date.parse(reply.nextAttemptAt!) - Date.parse(reply.updatedAt)).toBeLessThanOrEqual(1000);
  });
});

describe('the summary across a restart', () => {
  it('a change stored but never announced (the relay stopped first) is announced when the relay starts again; nothing twice', async () => {
    const sandbox = await startSandbox({ seed: false, random: 9 });
    try {
      const db = tempDb();
      const parsed = parseConfig(againstSandbox(sandbox, { CONCUR_ACCESS_TOKEN: sandbox.accessToken }, db));
      if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
      const start = async () => {
        const relay = await startRelay(parsed.config, { logger: createLogger({ level: 'silent' }) });
        relays.push(relay);
        return relay;
      };
      const summaries = (relay: RunningRelay) => relay.store.events.after(0, 1000).flatMap((e) => (e.type === 'summary' ? [Summary.parse(e.data)] : []));

      const first = await start();
      // Its first poll changes what the summary says (Concur's state): announced.
      await eventually(() => summaries(first).some((summary) => summary.concur.state === 'ok'));
      await first.close();

      // A request stored with no relay watching: what a leader leaves when it dies between the two.
      const store = openStore(db, { vault: TEST_VAULT });
      store.requests.upsertFromConcur([record('LATE')], new Date().toISOString());
      store.close();

      const again = await start();
      const announced = await eventually(() => summaries(again).find((summary) => summary.counts.pending === 1));
      expect(announced.counts).toEqual({ pending: 1, failed: 0, connected: 0 });
      await eventually(() => again.store.state.summary().concur.state === 'ok');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const count = summaries(again).length;
      await again.close();

      // Started once more, nothing has changed since the last announcement: nothing is announced.
      const third = await start();
      await eventually(() => third.store.state.summary().concur.state === 'ok' && third.store.events.latestId() > 0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(summaries(third)).toHaveLength(count);
    } finally {
      await sandbox.close();
    }
  });
});
