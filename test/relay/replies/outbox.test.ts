import { describe, expect, it } from 'vitest';
import type { Metrics } from '../../../relay/base/metrics.js';
import { staticToken } from '../../../relay/concur/auth.js';
import type { ConcurClient } from '../../../relay/concur/client.js';
import { createPoller } from '../../../relay/ingest/poller.js';
import { createOutbox } from '../../../relay/replies/outbox.js';
import { startSandbox, type RunningSandbox } from '../../../relay/sandbox/server.js';
import type { OutboxReply, Store } from '../../../relay/store/index.js';
import { record, withParts, type StoreHarness } from '../store/helpers.js';
import {
  addRequests,
  clearFaults,
  clientFor,
  fault,
  listCalls,
  putCalls,
  putDirect,
  sandboxRequest,
  sleep,
  waitFor,
  workerWorld,
  type CapturedLog,
} from '../helpers.js';
import { metricValue } from '../../helpers/metrics.js';
import { TESTER } from '../store/helpers.js';

let sb: RunningSandbox;
let harness: StoreHarness;
let store: Store;
let metrics: Metrics;
let log: CapturedLog;
const { running, outbox, ingest } = workerWorld({ random: 77 }, (world) => ({ sb, harness, store, metrics, log } = world));

describe('outbox: Concur answers', () => {
  it('204: the reply is sent once, the request moves to its group, onSent hears of it', async () => {
    await addRequests(sb, [{ id: 'R1' }, { id: 'R2' }]);
    await ingest();
    const { replyId } = store.replies.enqueue('R1', 'CRSUC', { actor: TESTER });
    const heard: OutboxReply[] = [];
    const o = outbox({ onSent: (reply) => heard.push(reply) });

    await o.drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 1, lastError: null, nextAttemptAt: null });
    const puts = await putCalls(sb);
    expect(puts).toHaveLength(1);
    expect(puts[0]).toMatchObject({
      method: 'PUT',
      path: '/api/v3.0/common/connectionrequests/R1',
      requestId: 'R1',
      putStatus: 'CRSUC',
      status: 204,
      authScheme: 'OAuth',
      auth: 'ok',
    });
    expect(store.requests.get('R1')).toMatchObject({
      status: 'CRSUC',
      group: 'connected',
      reply: { status: 'CRSUC', state: 'sent', attempts: 1 },
    });
    expect((await sandboxRequest(sb, 'R1')).status).toBe('Connected');
    expect(store.requests.counts()).toEqual({ pending: 1, failed: 0, connected: 1 });
    expect(heard.map((r) => [r.id, r.state])).toEqual([[replyId, 'sent']]);
    expect(await metricValue(metrics, 'triplink_reply_attempts_total', { outcome: 'sent' })).toBe(1);
    expect(log.lines().at(-1)).toMatchObject({ msg: 'reply sent to Concur', replyId, requestId: 'R1', status: 'CRSUC' });

    // Nothing more to do: no second PUT.
    harness.clock.advance(3600_000);
    await o.drain();
    expect(await putCalls(sb)).toHaveLength(1);
  });

  it.each(['3.0', '3.2'] as const)('API %s, 503 three times: each try counted and retried after a growing backoff, then sent (4 attempts)', async (version) => {
    await addRequests(sb, { id: 'R1' });
    await ingest();
    await fault(sb, { route: 'put', kind: 'status503', times: 3 });
    const { replyId } = store.replies.enqueue('R1', 'CREU1', { actor: TESTER });
    const o = outbox({ client: clientFor(sb, { version }) });

    await o.drain();
    const first = store.replies.get(replyId)!;
    expect(first).toMatchObject({ state: 'queued', attempts: 1 });
    expect(first.nextAttemptAt).toBe(new Date(harness.clock.ms + 750).toISOString());
    expect(first.lastError).toBe(
      'Concur is unavailable (503): Service Unavailable. The service is down for maintenance; please try again later; ' +
        'next try at 2024-05-01T10:00:00.750Z',
    );
    expect(store.requests.get('R1')?.reply).toMatchObject({ state: 'queued', attempts: 1 });

    // Not due yet: nothing is sent.
    await o.drain();
    expect(await putCalls(sb)).toHaveLength(1);

    const waits: number[] = [];
    for (let i = 0; i < 5 && store.replies.get(replyId)!.state === 'queued'; i++) {
      const due = Date.parse(store.replies.get(replyId)!.nextAttemptAt!);
      waits.push(due - harness.clock.ms);
      harness.clock.ms = due;
      await o.drain();
    }
    expect(waits).toEqual([750, 1500, 3000]);
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 4, lastError: null });
    expect((await putCalls(sb)).map((c) => c.status)).toEqual([503, 503, 503, 204]);
    expect(await metricValue(metrics, 'triplink_reply_attempts_total', { outcome: 'retry' })).toBe(3);
    expect(await metricValue(metrics, 'triplink_reply_attempts_total', { outcome: 'sent' })).toBe(1);
    expect(store.requests.get('R1')).toMatchObject({ status: 'CREU1', group: 'failed' });
  });

  it('429: Retry-After is honoured', async () => {
    await addRequests(sb, { id: 'R1' });
    await ingest();
    await fault(sb, { route: 'put', kind: 'status429', retryAfterSeconds: 30, times: 1 });
    const { replyId } = store.replies.enqueue('R1', 'CRSUC', { actor: TESTER });
    await outbox().drain();
    const reply = store.replies.get(replyId)!;
    expect(Date.parse(reply.nextAttemptAt!) - harness.clock.ms).toBe(30_000);
    expect(reply.lastError).toMatch(/^Concur is rate limiting \(429\)/);
  });

  it('404 (Concur does not know the request): failed at once with Concur’s message; never retried', async () => {
    store.requests.upsertFromConcur([record('GHOST')], harness.clock.iso());
    const { replyId } = store.replies.enqueue('GHOST', 'CREU1', { actor: TESTER });
    const heard: OutboxReply[] = [];
    const o = outbox({ onSent: (reply) => heard.push(reply) });
    await o.drain();
    expect(store.replies.get(replyId)).toMatchObject({
      state: 'failed',
      attempts: 1,
      lastError: 'Concur answered 404: Connection request GHOST was not found.',
      nextAttemptAt: null,
    });
    expect(store.requests.get('GHOST')).toMatchObject({ status: 'Pending', group: 'pending' });
    expect(await metricValue(metrics, 'triplink_reply_attempts_total', { outcome: 'failed' })).toBe(1);
    expect(heard).toEqual([]);
    harness.clock.advance(3600_000);
    await o.drain();
    expect(await putCalls(sb)).toHaveLength(1);
  });

  it('400 (the request is already Connected at Concur): failed with Concur’s message', async () => {
    await addRequests(sb, { id: 'DONE' });
    await ingest();
    expect(await putDirect(sb, 'DONE', 'CRSUC')).toBe(204);
    const { replyId } = store.replies.enqueue('DONE', 'CREU2', { actor: TESTER });
    await outbox().drain();
    expect(store.replies.get(replyId)).toMatchObject({
      state: 'failed',
      attempts: 1,
      lastError: 'Concur answered 400: Connection request DONE is already Connected; its status can no longer be changed.',
    });
    // As the relay last saw it: Processing (the sweep's pending list handed its token out), waiting.
    expect(store.requests.get('DONE')).toMatchObject({ status: 'Processing', group: 'pending' });
  });

  it('a refusal after a timed-out try is checked against Concur: if that try went through, the reply is sent', async () => {
    await addRequests(sb, [{ id: 'AMB' }, { id: 'OTHER' }]);
    await ingest();
    const o = outbox({ client: clientFor(sb, { timeoutMs: 150 }) });
    await fault(sb, { route: 'put', kind: 'hang', times: 2 });
    const amb = store.replies.enqueue('AMB', 'CRSUC', { actor: TESTER }).replyId;
    const other = store.replies.enqueue('OTHER', 'CRSUC', { actor: TESTER }).replyId;
    await o.drain();
    expect(store.replies.get(amb)).toMatchObject({ state: 'queued', attempts: 1 });
    expect(store.replies.get(amb)!.lastError).toMatch(/did not answer within 0\.15 s; next try at/);
    expect(store.replies.get(other)).toMatchObject({ state: 'queued', attempts: 1 });

    // As if the first PUT had reached Concur after all; OTHER was meanwhile failed by someone else.
    expect(await putDirect(sb, 'AMB', 'CRSUC')).toBe(204);
    expect(await putDirect(sb, 'OTHER', 'CREU1')).toBe(204);
    harness.clock.advance(60_000);
    await o.drain();
    expect(store.replies.get(amb)).toMatchObject({ state: 'sent', attempts: 2 });
    expect(store.requests.get('AMB')).toMatchObject({ group: 'connected' });
    // Read back before anything was sent again: the relay's PUT that timed out, and the direct one.
    expect((await putCalls(sb, 'AMB')).map((c) => c.status)).toEqual([null, 204]);
    expect(store.replies.get(other)).toMatchObject({
      state: 'failed',
      attempts: 2,
      lastError: 'Concur answered 400: Connection request OTHER is already Failed; its status can no longer be changed.',
    });
  });

  it('whatever is not final is retried: 401/403, an unreachable Concur, a 200 carrying <Error>', async () => {
    await addRequests(sb, [{ id: 'A' }, { id: 'B' }, { id: 'C' }]);
    await ingest();
    const a = store.replies.enqueue('A', 'CRSUC', { actor: TESTER }).replyId;
    await outbox({ client: clientFor(sb, { auth: staticToken('not-a-token-concur-knows') }) }).drain();
    expect(store.replies.get(a)).toMatchObject({ state: 'queued', attempts: 1 });
    expect(store.replies.get(a)!.lastError).toMatch(/^Concur refused the access token \(403\)/);

    const gone = await startSandbox({ seed: false });
    const url = gone.url;
    await gone.close();
    const b = store.replies.enqueue('B', 'CRSUC', { actor: TESTER }).replyId;
    await outbox({ client: clientFor(sb, { baseUrl: url }) }).drain();
    expect(store.replies.get(b)).toMatchObject({ state: 'queued', attempts: 1 });
    expect(store.replies.get(b)!.lastError).toMatch(/could not reach Concur \(ECONNREFUSED\)/);

    await fault(sb, { route: 'put', kind: 'error200', times: 1 });
    const c = store.replies.enqueue('C', 'CRSUC', { actor: TESTER }).replyId;
    const o = outbox();
    harness.clock.advance(0);
    await o.drain();
    // A and B were due again only later; C got the 200-with-Error.
    expect(store.replies.get(c)).toMatchObject({ state: 'queued', attempts: 1 });
    expect(store.replies.get(c)!.lastError).toMatch(/^Concur answered 200: An unexpected error occurred/);

    harness.clock.advance(60_000);
    await o.drain();
    expect([a, b, c].map((id) => store.replies.get(id)?.state)).toEqual(['sent', 'sent', 'sent']);
    expect(await metricValue(metrics, 'triplink_reply_attempts_total', { outcome: 'retry' })).toBe(3);
  });
});

describe('outbox: the worker', () => {
  it('sends replies to different requests concurrently (at most 4), each once', async () => {
    const added = await addRequests(sb, { count: 10 });
    await ingest();
    await fault(sb, { route: 'put', kind: 'latency', latencyMs: 40 });
    const client = clientFor(sb);
    let active = 0;
    let most = 0;
    const counting: Pick<ConcurClient, 'putStatus' | 'get'> = {
      get: (id) => client.get(id),
      async putStatus(id, status) {
        active++;
        most = Math.max(most, active);
        try {
          await client.putStatus(id, status);
        } finally {
          active--;
        }
      },
    };
    for (const request of added) store.replies.enqueue(request.id, 'CRSUC', { actor: TESTER });
    await outbox({ client: counting }).drain();
    expect(most).toBe(4);
    expect(store.replies.counts()).toEqual({ queued: 0, exchanging: 0, waiting_token: 0, sent: 10, failed: 0 });
    const puts = await putCalls(sb);
    expect(puts.map((c) => c.requestId).sort()).toEqual(added.map((r) => r.id).sort());
  });

  it('survives a restart: Concur down, worker stopped, store closed and reopened, a new worker sends it exactly once', async () => {
    await addRequests(sb, { id: 'D1' });
    await ingest();
    await fault(sb, { route: 'put', kind: 'status503' });
    const { replyId } = store.replies.enqueue('D1', 'CRSUC', { actor: TESTER });

    const first = outbox();
    first.start();
    await waitFor(() => (store.replies.get(replyId)?.attempts ?? 0) >= 1, 2000, 'a failed try');
    await first.stop();
    expect(first.nextWakeAt).toBeNull();

    store = harness.reopen();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'queued', attempts: 1 });
    await clearFaults(sb);
    harness.clock.advance(10 * 60_000);

    const second = outbox();
    second.start();
    await waitFor(() => store.replies.get(replyId)?.state === 'sent', 2000, 'the reply to be sent');
    await sleep(50);
    const puts = await putCalls(sb, 'D1');
    expect(puts.map((c) => c.status)).toEqual([503, 204]);
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 2 });
    expect((await sandboxRequest(sb, 'D1')).status).toBe('Connected');
  });

  it('kick() sends a newly queued reply at once; stop() waits for the PUT in flight and sends nothing new', async () => {
    await addRequests(sb, [{ id: 'K1' }, { id: 'K2' }]);
    await ingest();
    const o = outbox();
    o.start();
    await sleep(20);
    expect(o.nextWakeAt).toBe(harness.clock.ms + 30_000);

    await fault(sb, { route: 'put', kind: 'latency', latencyMs: 120, times: 1 });
    const k1 = store.replies.enqueue('K1', 'CRSUC', { actor: TESTER }).replyId;
    o.kick();
    await waitFor(() => o.inFlight === 1, 1000, 'the PUT in flight');
    await o.stop();
    expect(o.inFlight).toBe(0);
    // Stopping waited for Concur's answer and recorded it.
    expect(store.replies.get(k1)).toMatchObject({ state: 'sent' });

    const k2 = store.replies.enqueue('K2', 'CRSUC', { actor: TESTER }).replyId;
    o.kick();
    await o.drain();
    await sleep(30);
    expect(store.replies.get(k2)).toMatchObject({ state: 'queued', attempts: 0 });
    expect(await putCalls(sb)).toHaveLength(1);
  });

  it('a store that fails to record an outcome does not make the worker spin or resend', async () => {
    await addRequests(sb, { id: 'S1' });
    await ingest();
    const { replyId } = store.replies.enqueue('S1', 'CRSUC', { actor: TESTER });
    let failing = true;
    const flaky = withParts(store, {
      replies: {
        markSent: (id) => {
          if (failing) throw new Error('SQLITE_BUSY: database is locked');
          return store.replies.markSent(id);
        },
      },
    });
    const o = outbox({ store: flaky, now: Date.now, baseDelayMs: 30, maxDelayMs: 60 });
    o.start();
    await waitFor(() => log.lines().some((l) => l.level === 50), 1000, 'the store error');
    failing = false;
    await waitFor(() => store.replies.get(replyId)?.state === 'sent', 1000, 'the reply recorded');
    // Concur heard the PUT once; the worker recorded it again rather than sending it again.
    expect(await putCalls(sb)).toHaveLength(1);
    expect(log.lines().at(-1)).toMatchObject({ msg: 'recorded a reply Concur had already accepted' });
  });

  it('onSent → the poller sweeps again from the first page', async () => {
    const added = await addRequests(sb, { count: 12 });
    const poller = createPoller({
      client: clientFor(sb),
      store,
      intervalMs: 60_000,
      logger: log.logger,
      metrics,
      now: Date.now,
    });
    running.push(poller);
    poller.start();
    await waitFor(() => store.state.concurStatus().state === 'ok' && !poller.sweeping, 1000, 'the first sweep');
    // 3.0's two lists, two pages each: pending (which hands the tokens out), then processing.
    expect(await listCalls(sb)).toHaveLength(4);

    const o = outbox({ onSent: () => poller.requestResweep(), now: Date.now });
    o.start();
    store.replies.enqueue(added[0]!.id, 'CRSUC', { actor: TESTER });
    o.kick();
    await waitFor(async () => (await listCalls(sb)).length >= 7 && !poller.sweeping, 1000, 'the resweep');
    const list = await listCalls(sb);
    // Each list from its first page; the resweep's pending list is empty now (one page).
    expect(list.map((c) => [c.query.status, c.query.offset === undefined])).toEqual([
      ['Pending', true],
      ['Pending', false],
      ['Processing', true],
      ['Processing', false],
      ['Pending', true],
      ['Processing', true],
      ['Processing', false],
    ]);
    // The sent request has left Concur's pending list; the store keeps it in its new group.
    expect(store.requests.counts()).toEqual({ pending: 11, failed: 0, connected: 1 });
  });

  it('refuses options that cannot work', () => {
    const base = { client: clientFor(sb), exchange: null, store, logger: log.logger, metrics };
    expect(() => createOutbox({ ...base, baseDelayMs: 0 })).toThrow(RangeError);
    expect(() => createOutbox({ ...base, concurrency: 0 })).toThrow(RangeError);
    expect(() => createOutbox({ ...base, batchSize: 1.5 })).toThrow(RangeError);
  });
});
