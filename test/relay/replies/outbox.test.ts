import { describe, expect, it } from 'vitest';
import type { Metrics } from '../../../relay/base/metrics.js';
import { staticToken } from '../../../relay/concur/auth.js';
import { startSandbox, type RunningSandbox } from '../../../relay/sandbox/server.js';
import type { OutboxReply, Store } from '../../../relay/store/index.js';
import { record, type StoreHarness } from '../store/helpers.js';
import { addRequests, clientFor, fault, sandboxRequest, type CapturedLog } from '../helpers.js';
import type { ReplyCode } from '../../../shared/status.js';
import { metricValue } from '../../helpers/metrics.js';
import { TESTER } from '../store/helpers.js';
import { VERSIONS, worldOf } from './versions.js';

/** What the outbox does with each of Concur's answers to a PUT, in API 3.0 and 3.2. The worker itself: outbox-worker.test.ts. */

let sb: RunningSandbox;
let harness: StoreHarness;
let store: Store;
let metrics: Metrics;
let log: CapturedLog;

describe.each(VERSIONS)('outbox, API $version: Concur answers', (v) => {
  const { outbox, ingest, client, putsOf } = worldOf(v, { random: 77 }, (world) => ({ sb, harness, store, metrics, log } = world));
  /** A PUT that reaches Concur without the relay knowing (the partner's own, on the same path). */
  const partner = (id: string, status: ReplyCode) => client().putStatus(id, status);

  it('204: the reply is sent once, the request moves to its group, onSent hears of it', async () => {
    await addRequests(sb, [{ id: 'R1' }, { id: 'R2' }]);
    await ingest();
    const { replyId } = store.replies.enqueue('R1', 'CRSUC', { actor: TESTER });
    const heard: OutboxReply[] = [];
    const o = outbox({ onSent: (reply) => heard.push(reply) });

    await o.drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 1, lastError: null, nextAttemptAt: null });
    const puts = await putsOf('R1');
    expect(puts).toHaveLength(1);
    expect(puts[0]).toMatchObject({
      method: 'PUT',
      path: `${v.resource}/R1`,
      requestId: 'R1',
      putStatus: 'CRSUC',
      status: 204,
      authScheme: v.authScheme,
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
    expect(await putsOf('R1')).toHaveLength(1);
  });

  it('503 three times: each try counted and retried after a growing backoff, then sent (4 attempts)', async () => {
    await addRequests(sb, { id: 'R1' });
    await ingest();
    await fault(sb, { route: 'put', kind: 'status503', times: 3 });
    const { replyId } = store.replies.enqueue('R1', 'CREU1', { actor: TESTER });
    const o = outbox();

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
    expect(await putsOf('R1')).toHaveLength(1);

    const waits: number[] = [];
    for (let i = 0; i < 5 && store.replies.get(replyId)!.state === 'queued'; i++) {
      const due = Date.parse(store.replies.get(replyId)!.nextAttemptAt!);
      waits.push(due - harness.clock.ms);
      harness.clock.ms = due;
      await o.drain();
    }
    expect(waits).toEqual([750, 1500, 3000]);
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 4, lastError: null });
    expect((await putsOf('R1')).map((c) => c.status)).toEqual([503, 503, 503, 204]);
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
    expect(await putsOf('GHOST')).toHaveLength(1);
  });

  it('400 (the request is already Connected at Concur): failed with Concur’s message', async () => {
    await addRequests(sb, { id: 'DONE' });
    await ingest();
    await partner('DONE', 'CRSUC');
    const { replyId } = store.replies.enqueue('DONE', 'CREU2', { actor: TESTER });
    await outbox().drain();
    expect(store.replies.get(replyId)).toMatchObject({
      state: 'failed',
      attempts: 1,
      lastError: 'Concur answered 400: Connection request DONE is already Connected; its status can no longer be changed.',
    });
    // As the relay last saw it, waiting.
    expect(store.requests.get('DONE')).toMatchObject({ status: v.listedAs, group: 'pending' });
  });

  it('a refusal after a timed-out try is checked against Concur: if that try went through, the reply is sent', async () => {
    await addRequests(sb, [{ id: 'AMB' }, { id: 'OTHER' }]);
    await ingest();
    const o = outbox({ client: client({ timeoutMs: 150 }) });
    await fault(sb, { route: 'put', kind: 'hang', times: 2 });
    const amb = store.replies.enqueue('AMB', 'CRSUC', { actor: TESTER }).replyId;
    const other = store.replies.enqueue('OTHER', 'CRSUC', { actor: TESTER }).replyId;
    await o.drain();
    expect(store.replies.get(amb)).toMatchObject({ state: 'queued', attempts: 1 });
    expect(store.replies.get(amb)!.lastError).toMatch(/did not answer within 0\.15 s; next try at/);
    expect(store.replies.get(other)).toMatchObject({ state: 'queued', attempts: 1 });

    // As if the first PUT had reached Concur after all; OTHER was meanwhile failed by the partner.
    await partner('AMB', 'CRSUC');
    await partner('OTHER', 'CRPA1');
    harness.clock.advance(60_000);
    await o.drain();
    expect(store.replies.get(amb)).toMatchObject({ state: 'sent', attempts: 2 });
    expect(store.requests.get('AMB')).toMatchObject({ group: 'connected' });
    // Read back before anything was sent again: the relay's PUT that timed out, and the direct one.
    expect((await putsOf('AMB')).map((c) => c.status)).toEqual([null, 204]);
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
    await outbox({ client: client({ auth: staticToken('not-a-token-concur-knows') }) }).drain();
    expect(store.replies.get(a)).toMatchObject({ state: 'queued', attempts: 1 });
    expect(store.replies.get(a)!.lastError).toMatch(/^Concur refused the access token \(403\)/);

    // A Concur that has gone away: its calls (and under 3.2 its token endpoint) refuse the connection.
    const gone = await startSandbox({ seed: false });
    const unreachable = clientFor(gone, { version: v.version });
    await gone.close();
    const b = store.replies.enqueue('B', 'CRSUC', { actor: TESTER }).replyId;
    await outbox({ client: unreachable }).drain();
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

