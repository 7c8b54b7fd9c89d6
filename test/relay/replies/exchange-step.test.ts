import { describe, expect, it } from 'vitest';
import type { Metrics } from '../../../relay/base/metrics.js';
import { createOutbox } from '../../../relay/replies/outbox.js';
import type { ExchangeSetup } from '../../../relay/replies/exchange-step.js';
import type { RunningSandbox } from '../../../relay/sandbox/server.js';
import type { Store } from '../../../relay/store/index.js';
import { aroundEveryMethod, TESTER, type StoreHarness } from '../store/helpers.js';
import { addRequests, calls, control, exchangeFor, fault, putCalls, workerWorld, type CapturedLog } from '../helpers.js';
import { VERSIONS, worldOf } from './versions.js';

/**
 * The exchange a CRSUC starts with, in the outbox against the sandbox, on the store's clock (the
 * request token's lifetime counts on it), in API 3.0 (the legacy exchange) and 3.2 (the password
 * grant). The relay in full, over its API: exchange-flow.test.ts.
 */

let sb: RunningSandbox;
let harness: StoreHarness;
let store: Store;
let metrics: Metrics;
let log: CapturedLog;
const sandboxClock = (ms: number) => control(sb, 'POST', '/clock', { advanceSeconds: ms / 1000 });

/**
 * Exchanges of request tokens: the legacy one (getaccesstoken.ashx) and the OAuth 2.0 token
 * endpoint's, but not the relay's own client-credentials token (API 3.2's credential for its calls).
 */
const tokenCalls = async () =>
  (await calls(sb)).filter((c) => c.route === 'exchange' || (c.route === 'token' && c.grantType !== 'client_credentials')).map((c) => c.status);
const replyEvents = (id: string) =>
  store.events
    .after(0, 1000)
    .flatMap((e) => (e.type === 'reply.updated' && e.data.requestId === id ? [`${e.data.reply.status} ${e.data.reply.state}`] : []));

/** Drains, moves the store's clock on, again, until `done` (each retry is scheduled on that clock). */
async function drainUntil(outbox: () => { drain(): Promise<void> }, done: () => boolean, stepMs = 60_000, rounds = 40): Promise<void> {
  const o = outbox();
  for (let i = 0; i < rounds && !done(); i++) {
    await o.drain();
    if (!done()) harness.clock.advance(stepMs);
  }
  expect(done()).toBe(true);
}

describe.each(VERSIONS)('API $version: the exchange before a CRSUC', (v) => {
  const w = worldOf(v, { random: 53 }, (world) => ({ sb, harness, store, metrics, log } = world));
  const { outbox, ingest, client, exchange } = w;
  const putsOf = async (id: string) => (await w.putsOf(id)).map((c) => `${c.putStatus} ${c.status}`);

  it("exchanges, stores the traveller's tokens (sealed), then PUTs CRSUC: the token works at Concur's User API", async () => {
    const [request] = await addRequests(sb, { id: 'R1' });
    await ingest();
    const { replyId } = store.replies.enqueue('R1', 'CRSUC', { actor: TESTER });
    await outbox().drain();

    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', status: 'CRSUC', attempts: 1, exchanged: true });
    const connection = store.connections.byRequest('R1')!;
    expect(connection).toMatchObject({ state: 'active', connectedBy: 'tester', instanceUrl: v.instanceUrl(sb.url) });
    expect(store.requests.get('R1')).toMatchObject({ group: 'connected', connectionId: connection.id });
    const opened = store.connections.tokens(connection.id)!;
    const profile = await fetch(`${sb.url}/api/user/v1.0/User`, { headers: { authorization: `${v.travellerScheme} ${opened.accessToken}`, accept: 'application/json' } });
    expect(profile.status).toBe(200);
    expect(JSON.stringify(await profile.json())).toContain(sb.state.get(request!.id)!.userId);
    expect(await tokenCalls()).toEqual([200]);
    expect(await putsOf('R1')).toEqual(['CRSUC 204']);
    expect(replyEvents('R1')).toEqual(['CRSUC queued', 'CRSUC exchanging', 'CRSUC queued', 'CRSUC sent']);
    for (const secret of [opened.accessToken, opened.refreshToken]) {
      expect(log.text()).not.toContain(secret);
      expect(JSON.stringify(store.events.after(0, 1000))).not.toContain(secret);
    }
  });

  it('a token Concur refuses: CRRET, waiting; the next poll brings a new token and the CRSUC goes on by itself', async () => {
    await addRequests(sb, { id: 'E1' });
    await ingest();
    // Concur's tokens live 15 minutes here, whatever the relay takes (so under 3.2 its guess is wrong,
    // and the app's own token, an hour long, is still good).
    await control(sb, 'PUT', '/quirks', { requestTokenLifetime: '15m' });
    await sandboxClock(16 * 60_000);
    const { replyId } = store.replies.enqueue('E1', 'CRSUC', { actor: TESTER });
    await outbox().drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'waiting_token', status: 'CRRET', lastError: expect.stringMatching(/expired.*CRRET/) });
    expect(store.connections.byRequest('E1')).toBeUndefined();
    expect(sb.state.get('E1')).toMatchObject({ status: 'Pending', retries: 1 });

    // Nothing happens until a poll has the new token.
    harness.clock.advance(3600_000);
    await outbox().drain();
    expect(await putsOf('E1')).toEqual(['CRRET 204']);
    // Concur lists the request again (3.2: an hour after the CRRET popped it) with a new token.
    await sandboxClock(v.crretAwayMs);
    await ingest();
    await outbox().drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', status: 'CRSUC', attempts: 2, lastError: null });
    expect(store.connections.byRequest('E1')?.state).toBe('active');
    expect(await putsOf('E1')).toEqual(['CRRET 204', 'CRSUC 204']);
    expect(await tokenCalls()).toEqual([400, 200]);
    expect(replyEvents('E1')).toEqual([
      'CRSUC queued',
      'CRSUC exchanging',
      'CRRET queued',
      'CRRET waiting_token',
      'CRSUC exchanging',
      'CRSUC queued',
      'CRSUC sent',
    ]);
  });

  it('no retries left: CRPA1, saying why', async () => {
    await addRequests(sb, { id: 'P1' });
    await ingest();
    for (let n = 0; n < v.crretLimit; n++) {
      store.replies.enqueue('P1', 'CRRET', { actor: TESTER });
      await outbox().drain();
      await sandboxClock(v.crretAwayMs);
      await ingest();
    }
    await sandboxClock(v.tokenLifetimeMs + 60_000);
    const { replyId } = store.replies.enqueue('P1', 'CRSUC', { actor: TESTER });
    await outbox().drain();
    expect(store.replies.get(replyId)).toMatchObject({
      state: 'sent',
      status: 'CRPA1',
      requestedStatus: 'CRSUC',
      lastError: expect.stringContaining(`no retries left (${v.crretLimit} of ${v.crretLimit}), so CRPA1`),
    });
    expect(sb.state.get('P1')!.status).toBe('Failed');
  });

  it('the relay dies between the exchange call and storing its answer: CRRET on restart, then connected; never a CRSUC without stored tokens', async () => {
    await addRequests(sb, { id: 'K1' });
    await ingest();
    const { replyId } = store.replies.enqueue('K1', 'CRSUC', { actor: TESTER });
    let dead = false;
    const dying = aroundEveryMethod(store, (_name, call) => {
      if (dead) throw new Error('the relay process was killed');
      return call();
    });
    const real = exchange();
    const killedAfterTheCall: ExchangeSetup = {
      form: real.form,
      client: {
        exchange: async (input) => {
          const tokens = await real.client.exchange(input);
          dead = true;
          return tokens;
        },
      },
    };
    await createOutbox({ client: client(), exchange: killedAfterTheCall, store: dying, logger: log.logger, metrics, now: harness.clock.now }).drain();
    store = harness.reopen();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'exchanging' });
    expect(sb.state.get('K1')!.status).toBe('Processing');

    const crsucWithTokens: boolean[] = [];
    sb.hooks.onReplyApplied = (applied) => {
      if (applied.status === 'CRSUC') crsucWithTokens.push(store.connections.byRequest(applied.requestId) !== undefined);
    };
    try {
      await outbox().drain();
      expect(store.replies.get(replyId)).toMatchObject({ state: 'waiting_token', status: 'CRRET', lastError: expect.stringMatching(/stopped while exchanging/) });
      harness.clock.advance(1000);
      await sandboxClock(v.crretAwayMs);
      await ingest();
      await outbox().drain();
    } finally {
      sb.hooks.onReplyApplied = undefined;
    }
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', status: 'CRSUC' });
    expect(await putsOf('K1')).toEqual(['CRRET 204', 'CRSUC 204']);
    expect(crsucWithTokens).toEqual([true]);
  });

  it('Concur cannot answer: tried again inside the token window until it can', async () => {
    await addRequests(sb, { id: 'U1' });
    await ingest();
    await fault(sb, { route: 'token', kind: 'status503', times: 3 });
    const { replyId } = store.replies.enqueue('U1', 'CRSUC', { actor: TESTER });
    await outbox().drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'queued', exchangeAttempts: 1, lastError: expect.stringMatching(/503; next try at /) });
    await drainUntil(outbox, () => store.replies.get(replyId)?.state === 'sent', 5000);
    expect(await tokenCalls()).toEqual([503, 503, 503, 200]);
    expect(await putsOf('U1')).toEqual(['CRSUC 204']);
  });

  it("…and once the token's time is up (as the relay takes it), the CRRET way (CRPA2 with no retries left would follow)", async () => {
    await addRequests(sb, { id: 'W1' });
    await ingest();
    await fault(sb, { route: 'token', kind: 'status503' });
    const { replyId } = store.replies.enqueue('W1', 'CRSUC', { actor: TESTER });
    await drainUntil(outbox, () => store.replies.get(replyId)?.state === 'waiting_token', v.tokenLifetimeMs / 10);
    expect(store.replies.get(replyId)).toMatchObject({ status: 'CRRET', lastError: expect.stringMatching(/the request token's time is up \([^)]+\); a CRRET/) });
    await control(sb, 'DELETE', '/faults');
    await sandboxClock(v.crretAwayMs);
    await ingest();
    await outbox().drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', status: 'CRSUC' });
  });

  it('refused client credentials: no CRRET, the reply fails with the reason, the summary says the exchange is unavailable', async () => {
    await addRequests(sb, [{ id: 'C1' }, { id: 'C2' }]);
    await ingest();
    const { replyId } = store.replies.enqueue('C1', 'CRSUC', { actor: TESTER });
    await outbox({ exchange: exchangeFor(sb, v.exchange, { clientSecret: 'not-the-secret' }) }).drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'failed', status: 'CRSUC', lastError: expect.stringMatching(/client credentials.*401/) });
    expect(store.state.summary().exchange).toEqual({ state: 'unavailable', reason: expect.stringMatching(/CONCUR_CLIENT_SECRET/) });
    expect(await putCalls(sb)).toEqual([]);
    expect(() => store.replies.enqueue('C2', 'CRSUC', { actor: TESTER })).toThrow(/cannot exchange request tokens/);
    expect(log.text()).not.toContain('not-the-secret');
  });

  it('without partner credentials: the CRSUC fails, nothing sent', async () => {
    await addRequests(sb, { id: 'N1' });
    await ingest();
    const none = store.replies.enqueue('N1', 'CRSUC', { actor: TESTER }).replyId;
    await outbox({ exchange: null }).drain();
    expect(store.replies.get(none)).toMatchObject({ state: 'failed', lastError: expect.stringMatching(/cannot exchange/) });
    expect(await putCalls(sb)).toEqual([]);
    expect(await tokenCalls()).toEqual([]);
  });
});

describe('API 3.0 only: the password grant without a userId', () => {
  const { outbox, ingest } = workerWorld({ random: 53 }, (world) => ({ sb, harness, store, metrics, log } = world));

  it('API 3.0 gives no userId (a new token would have none either, so no CRRET): the CRSUC fails, nothing sent', async () => {
    await addRequests(sb, { id: 'N2' });
    await ingest();
    const password = store.replies.enqueue('N2', 'CRSUC', { actor: TESTER }).replyId;
    await outbox({ exchange: exchangeFor(sb, 'password') }).drain();
    expect(store.replies.get(password)).toMatchObject({ state: 'failed', lastError: expect.stringMatching(/userId.*CONCUR_EXCHANGE=legacy/) });
    expect(await putCalls(sb)).toEqual([]);
    expect(await tokenCalls()).toEqual([]);
  });
});
