import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectionRequest, RequestsPage } from '../../shared/models.js';
import { startSandbox, type RunningSandbox } from '../../relay/sandbox/server.js';
import { concurEnv, eventually, runRelay, startRelayProcess, tempDb, type RelayProcess } from '../helpers/relay-process.js';
import { VERSIONS, type VersionCase } from '../relay/helpers.js';

/**
 * The relay as it runs in production: its own process, configured by the environment, talking to
 * the sandbox over real HTTP. These are the promises that only show across a process boundary.
 * Those that involve Concur run in API 3.0 and 3.2 (CONCUR_API_VERSION); the configuration checks once.
 */

const API_KEY = 'process-test-key-0123456789';
let sandbox: RunningSandbox;
const relays: RelayProcess[] = [];

afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop('SIGKILL')));
});

/** For each test of the describe block it is called in: a sandbox with three pending requests, as Concur under `v`'s version; and the relay's start. */
function concur(v: VersionCase): (db: string) => Promise<RelayProcess> {
  beforeEach(async () => {
    sandbox = await startSandbox({ seed: false, random: 3, ...v.sandbox });
    for (let i = 0; i < 3; i++) sandbox.state.add();
  });
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop('SIGKILL')));
    await sandbox.close();
  });
  return async (db) => {
    const relay = await startRelayProcess({ ...concurEnv(sandbox, v.version), RELAY_API_KEYS: API_KEY, RELAY_DB: db, POLL_INTERVAL_SECONDS: '1' });
    relays.push(relay);
    return relay;
  };
}

function api(relay: RelayProcess, path: string, init: RequestInit = {}) {
  return fetch(`${relay.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...init.headers },
  });
}

async function pending(relay: RelayProcess) {
  const res = await api(relay, '/api/v1/requests?group=pending');
  return RequestsPage.parse(await res.json()).items;
}

function storedEvents(db: string, type: string): number {
  const sqlite = new Database(db, { readonly: true });
  try {
    return (sqlite.prepare('SELECT COUNT(*) AS n FROM events WHERE type = ?').get(type) as { n: number }).n;
  } finally {
    sqlite.close();
  }
}

describe('the relay process', () => {
  it('refuses a bad configuration with one readable line per problem and no stack trace', async () => {
    const run = runRelay({ CONCUR_BASE_URL: 'ftp://concur', POLL_INTERVAL_SECONDS: '0', RELAY_PORT: 'http' });
    expect(await run.exited).not.toBe(0);
    const text = run.output.join('\n');
    for (const variable of ['CONCUR_BASE_URL', 'POLL_INTERVAL_SECONDS', 'RELAY_PORT']) {
      expect(text).toContain(variable);
    }
    expect(text).not.toMatch(/^\s+at /m);
  });

  it('refuses a LOG_LEVEL pino does not know with one line, before anything is logged', async () => {
    const run = runRelay({ LOG_LEVEL: 'verbose', RELAY_DB: tempDb() });
    expect(await run.exited).toBe(2);
    expect(run.output.filter((l) => l.trim() !== '')).toEqual([
      'The relay cannot start: 1 problem with its configuration:',
      '  - LOG_LEVEL: must be fatal, error, warn, info, debug, trace or silent (got "verbose"); e.g. LOG_LEVEL=info',
    ]);
  });

  it('logs at LOG_LEVEL', async () => {
    const run = runRelay({ LOG_LEVEL: 'warn', RELAY_PORT: '0', RELAY_DB: tempDb(), SANDBOX_DEMO_EVERY_SECONDS: '0' });
    // The banner is not a log line: it shows the relay is up whatever the level.
    await eventually(() => run.output.some((l) => l.includes('TripLink Relay is running on')));
    // Sandbox mode says what auto-connect does, from its demo directory.
    await eventually(() => run.output.some((l) => l.includes("auto-connect  connect: asking the sandbox's demo member directory")));
    run.proc.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    const logs = run.output.filter((l) => l.startsWith('{'));
    expect(logs.filter((l) => /"msg":"relay (listening|stopped)"/.test(l))).toEqual([]);
    for (const line of logs) expect((JSON.parse(line) as { level: number }).level).toBeGreaterThanOrEqual(40);
  });
});

describe.each(VERSIONS)('the relay process, API $version', (v) => {
  const start = concur(v);

  it('never loses a reply accepted with 202: SIGKILL while Concur fails, restart, Concur recovers', async () => {
    const db = tempDb();
    const first = await start(db);
    const [request] = await eventually(async () => {
      const items = await pending(first);
      return items.length === 3 && items;
    });
    sandbox.faults.add({ route: 'put', kind: 'status503' });

    const accepted = await api(first, `/api/v1/requests/${request!.id}/reply`, {
      method: 'POST',
      body: JSON.stringify({ status: 'CRSUC' }),
    });
    expect(accepted.status).toBe(202);
    // A faulted call never reaches the PUT handler, so it is matched by its path.
    const puts = () => sandbox.calls.list().filter((c) => c.route === 'put' && c.path.endsWith(`/${request!.id}`));
    await eventually(() => puts().some((c) => c.status === 503));

    await first.stop('SIGKILL');
    const second = await start(db);
    sandbox.faults.clear();

    await eventually(() => puts().some((c) => c.status === 204), 15_000);
    const after = ConnectionRequest.parse(await (await api(second, `/api/v1/requests/${request!.id}`)).json());
    expect(after.group).toBe('connected');
    expect(after.reply).toMatchObject({ status: 'CRSUC', state: 'sent' });
    expect(puts().filter((c) => c.status === 204)).toHaveLength(1);
    expect(sandbox.state.get(request!.id)!.status).toBe('Connected');

    expect(await second.stop('SIGTERM')).toBe(0);
    // The restart re-polled the same requests and announced none of them again.
    expect(storedEvents(db, 'request.created')).toBe(3);
  }, 40_000);

  it('keeps every secret out of its logs and its answers', async () => {
    const db = tempDb();
    const relay = await start(db);
    await eventually(async () => (await pending(relay)).length === 3);
    const [one] = await pending(relay);
    await api(relay, `/api/v1/requests/${one!.id}/reply`, { method: 'POST', body: JSON.stringify({ status: 'CREU1' }) });
    await eventually(() => sandbox.calls.list().some((c) => c.route === 'put' && c.status === 204));
    const bodies = [
      await (await api(relay, '/api/v1/requests')).text(),
      await (await api(relay, '/api/v1/summary')).text(),
      await (await fetch(`${relay.url}/metrics`)).text(),
      await (await fetch(`${relay.url}/api/v1/requests`, { headers: { authorization: 'Bearer wrong-key-0123456789' } })).text(),
    ];
    expect(await relay.stop('SIGTERM')).toBe(0);

    const secrets = [sandbox.accessToken, sandbox.clientSecret, API_KEY, ...sandbox.state.all().map((r) => r.requestToken)];
    const logs = relay.output.join('\n');
    expect(logs).toContain('relay listening');
    for (const secret of secrets) {
      expect(logs).not.toContain(secret);
      for (const body of bodies) expect(body).not.toContain(secret);
    }
  }, 30_000);

  it('delivers a new request in the sandbox to a connected client within one poll interval', async () => {
    const relay = await start(tempDb());
    await eventually(async () => (await pending(relay)).length === 3);
    const controller = new AbortController();
    const res = await api(relay, '/api/v1/events', { signal: controller.signal, headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const until = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${pattern}`);
        text += value;
      }
    };
    await until(/event: summary/);
    // A sweep's first list (3.0: the pending one, before the processing one; 3.2: its one queue) brings a new request.
    const pendingLists = () => sandbox.calls.list().filter((c) => c.route === 'list' && c.query.status === v.sweepLists[0]).length;
    const listsBefore = pendingLists();
    const added = sandbox.state.add({ firstName: 'Siobhán', lastName: "O'Neill" });
    await until(new RegExp(`event: request\\.created\\ndata: .*"id":"${added.id}"`));
    // Measured in polls, not seconds: the first sweep after the request appeared (one page) brought it.
    const listsAfter = pendingLists();
    expect(listsAfter - listsBefore).toBeGreaterThanOrEqual(1);
    expect(listsAfter - listsBefore).toBeLessThanOrEqual(1);
    // Every list went to the version's path.
    expect(sandbox.calls.list().filter((c) => c.route === 'list' && !c.path.startsWith(v.path))).toEqual([]);
    expect(text).not.toContain(added.requestToken);
    controller.abort();
  }, 20_000);
});

describe.each(VERSIONS)('sandbox mode, API $version', ({ version, ids }) => {
  it('runs against an in-process sandbox with a generated API key when no Concur is configured', async () => {
    const db = tempDb();
    const sandboxMode = { RELAY_DB: db, POLL_INTERVAL_SECONDS: '1', SANDBOX_DEMO_EVERY_SECONDS: '0', CONCUR_API_VERSION: version };
    const relay = await startRelayProcess(sandboxMode);
    relays.push(relay);
    const keyLine = await eventually(() => relay.output.find((l) => /API key\s+\S+/.test(l)));
    const key = /API key\s+(\S+)/.exec(keyLine)![1]!;
    const summary = await eventually(async () => {
      const res = await fetch(`${relay.url}/api/v1/summary`, { headers: { authorization: `Bearer ${key}` } });
      const body = (await res.json()) as { counts: { pending: number; connected: number; failed: number }; concur: { state: string } };
      return body.concur.state === 'ok' && body.counts.pending > 0 && body;
    });
    // Every seeded request is there; sandbox mode's demo directory may already have connected some (auto-connect).
    const { pending, connected, failed } = summary.counts;
    expect(pending + connected + failed).toBe(12);
    // The sandbox speaks the version: its requests have the version's ids.
    const listed = await fetch(`${relay.url}/api/v1/requests?group=pending`, { headers: { authorization: `Bearer ${key}` } });
    const items = RequestsPage.parse(await listed.json()).items;
    expect(items.length).toBeGreaterThan(0);
    for (const item of items) expect(item.id).toMatch(ids);
    expect(relay.output.join('\n')).toMatch(/sandbox/);
    expect(await relay.stop('SIGTERM')).toBe(0);

    // The key is kept beside the database, so an extension configured once keeps working.
    const again = await startRelayProcess(sandboxMode);
    relays.push(again);
    await eventually(() => again.output.some((l) => l.includes(key)));
  }, 30_000);
});
