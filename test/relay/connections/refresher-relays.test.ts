import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExchangeClient } from '../../../relay/concur/exchange.js';
import { createBroker } from '../../../relay/connections/broker.js';
import { createRefresher, type Refresher } from '../../../relay/connections/refresher.js';
import { nextRefreshAt } from '../../../relay/connections/schedule.js';
import type { CallRecord } from '../../../relay/sandbox/calls.js';
import { ManualClock } from '../../../relay/sandbox/clock.js';
import { startSandbox, type RunningSandbox } from '../../../relay/sandbox/server.js';
import { captureLog } from '../helpers.js';
import { DatabaseHarness, type TestStore } from '../store/databases.js';
import { record } from '../store/helpers.js';
import { DAY, MINUTE } from './helpers.js';

/**
 * The refresh worker on two relays that share one PostgreSQL database, against the sandbox over
 * real HTTP (which, like Concur, rotates a traveller's refresh token on each use and refuses the
 * old one for good): each relay's worker runs over the same due connections at the same moment,
 * and each connection is refreshed once, by one of them, and stays healthy; a token asked for on
 * one relay while the other refreshes it is answered "try again shortly" (503), not refreshed a second time.
 */

describe('the refresh worker on two relays of one database', () => {
  let harness: DatabaseHarness;
  let sb: RunningSandbox;
  const refreshers: Refresher[] = [];

  beforeEach(async () => {
    harness = new DatabaseHarness({ kind: 'postgres', name: 'PostgreSQL' });
    sb = await startSandbox({ seed: false, random: 11, clock: new ManualClock(harness.clock.ms) });
  });
  afterEach(async () => {
    for (const refresher of refreshers.splice(0)) await refresher.stop();
    await harness.cleanup();
    await sb.close();
  });

  const client = () =>
    new ExchangeClient({
      form: 'password',
      baseUrl: sb.url,
      tokenUrl: `${sb.url}/oauth2/v0/token`,
      clientId: sb.clientId,
      clientSecret: sb.clientSecret,
      timeoutMs: 5000,
      now: harness.clock.now,
      appAuthorization: async () => `OAuth ${sb.accessToken}`,
    });

  async function control<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${sb.url}/_sandbox${path}`, { method, headers: { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!res.ok) throw new Error(`sandbox ${method} ${path} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as T;
  }

  /** A traveller connected for real: the request at the sandbox, its token exchanged, the connection stored. */
  async function connect(store: TestStore, n: number): Promise<{ id: string; userId: string }> {
    const id = `REQ${n}`;
    const userId = `0f3c7a1e-0000-4000-8000-${String(n).padStart(12, '0')}`;
    const added = await control<{ requests: Array<{ requestToken: string }> }>('POST', '/requests', { id, userId, firstName: 'Ada', lastName: 'Lovelace' });
    await store.requests.upsertFromConcur([record(id, { userId })], harness.clock.iso());
    const tokens = await client().exchange({ requestToken: added.requests[0]!.requestToken, userId });
    const connection = await store.connections.create({ requestId: id, form: 'password', tokens, connectedBy: 'test', nextRefreshAt: nextRefreshAt(tokens, harness.clock.ms) });
    return { id: connection.id, userId };
  }

  it('refreshes each due connection once, on one relay or the other, and breaks none', async () => {
    const a = await harness.store();
    const b = await harness.store();
    const made: Array<{ id: string; userId: string }> = [];
    for (let n = 1; n <= 8; n++) made.push(await connect(n % 2 === 0 ? a : b, n));
    // All due at once, as after both relays were stopped for a day; each refresh slow enough that
    // the two workers are at the sandbox together.
    const { now } = await control<{ now: string }>('POST', '/clock', { advanceSeconds: DAY / 1000 });
    harness.clock.ms = Date.parse(now);
    await control('POST', '/faults', { route: 'refresh', kind: 'latency', latencyMs: 100 });
    const log = captureLog();
    for (const store of [a, b]) {
      refreshers.push(createRefresher({ exchange: client(), store, logger: log.logger, now: harness.clock.now, random: () => 0.5, concurrency: 3 }));
    }
    await Promise.all(refreshers.map((refresher) => refresher.drain()));

    const { calls } = await control<{ calls: CallRecord[] }>('GET', '/calls');
    const refreshes = calls.filter((call) => call.grantType === 'refresh_token');
    expect(refreshes.map((call) => call.status)).toEqual(made.map(() => 200));
    for (const { id, userId } of made) {
      expect(await a.connections.get(id)).toMatchObject({ state: 'active', lastRefreshedAt: harness.clock.iso(), lastError: null });
      const { grants } = await control<{ grants: Array<Record<string, unknown>> }>('GET', `/users/${encodeURIComponent(userId)}`);
      expect(grants).toMatchObject([{ refreshCount: 1 }]);
    }
    expect(await b.connections.dueForRefresh(harness.clock.ms, 100)).toEqual([]);
  });

  it("a token asked for on one relay while the other refreshes it: not refreshed twice; the other's new token once it is stored", async () => {
    const a = await harness.store();
    const b = await harness.store();
    const { id, userId } = await connect(a, 1);
    const log = captureLog();
    // Relay A's call to Concur is held until the test lets it go: relay B asks while A holds the claim.
    let letGo!: () => void;
    const held = new Promise<void>((resolve) => (letGo = resolve));
    let atConcur!: () => void;
    const reached = new Promise<void>((resolve) => (atConcur = resolve));
    const exchangeOfA = { refresh: async (tokens: Parameters<ExchangeClient['refresh']>[0]) => (atConcur(), await held, client().refresh(tokens)) };
    const onA = createRefresher({ exchange: exchangeOfA, store: a, logger: log.logger, now: harness.clock.now, random: () => 0.5 });
    const onB = createRefresher({ exchange: client(), store: b, logger: log.logger, now: harness.clock.now, random: () => 0.5 });
    const brokerOnB = createBroker({ store: b, refresher: onB, concur: client(), logger: log.logger, now: harness.clock.now });
    // Under 5 minutes left: a token read refreshes first.
    const { now } = await control<{ now: string }>('POST', '/clock', { advanceSeconds: (57 * MINUTE) / 1000 });
    harness.clock.ms = Date.parse(now);
    const refreshOnA = onA.refresh(id);
    await reached;
    const atSandbox = async () => (await control<{ calls: CallRecord[] }>('GET', '/calls')).calls.filter((call) => call.grantType === 'refresh_token');

    const meanwhile = await brokerOnB.readToken(id, { keyId: null, name: 'back office' });
    expect(meanwhile).toMatchObject({ kind: 'unavailable', retryAfterSeconds: 30 });
    expect(meanwhile.kind === 'unavailable' && meanwhile.message).toContain('another relay is refreshing it right now');
    expect(await atSandbox()).toEqual([]);
    letGo();
    expect(await refreshOnA).toMatchObject({ kind: 'refreshed', connection: { state: 'active' } });
    const after = await brokerOnB.readToken(id, { keyId: null, name: 'back office' });
    expect(after).toMatchObject({ kind: 'token', token: { accessToken: (await a.connections.tokens(id))?.accessToken } });
    expect((await atSandbox()).map((call) => call.status)).toEqual([200]);
    const { grants } = await control<{ grants: Array<Record<string, unknown>> }>('GET', `/users/${encodeURIComponent(userId)}`);
    expect(grants).toMatchObject([{ refreshCount: 1 }]);
  });
});
