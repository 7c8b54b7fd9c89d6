import { afterEach, describe, expect, it } from 'vitest';
import type { Metrics } from '../../../relay/base/metrics.js';
import type { ConcurClient } from '../../../relay/concur/client.js';
import { createOutbox } from '../../../relay/replies/outbox.js';
import type { RunningSandbox } from '../../../relay/sandbox/server.js';
import type { OutboxReply, Store } from '../../../relay/store/index.js';
import type { ReplyCode } from '../../../shared/status.js';
import { aroundEveryMethod, record, type StoreHarness } from '../store/helpers.js';
import {
  addRequests,
  calls,
  control,
  fault,
  sandboxRequest,
  sleep,
  waitFor,
  type CapturedLog,
} from '../helpers.js';
import { TESTER } from '../store/helpers.js';
import { VERSIONS, worldOf, type VersionCase, type VersionWorld as World } from './versions.js';

/**
 * A reply in doubt: an attempt started, and its outcome never reached the store (the relay died
 * between Concur's 204 and writing "sent", or before the PUT went out, or the PUT timed out).
 * Concur here accepts a repeated reply (a second CREU* would e-mail the traveller twice), so only
 * the count of PUTs Concur accepted tells whether a reply was sent once.
 */

let sb: RunningSandbox;
let harness: StoreHarness;
let store: Store;
let metrics: Metrics;
let log: CapturedLog;
/** The world of one version, set up inside its `describe` (its hooks run for that block only). */
function worldFor(v: VersionCase): World {
  const w = worldOf(v, { random: 41, quirks: { repeatReplies: 'accept' } }, (world) => ({ sb, harness, store, metrics, log } = world));
  afterEach(() => {
    sb.hooks.onReplyApplied = undefined;
  });
  return w;
}

/** The store of a process that is about to die: once `kill()` was called every call to it throws, as nothing runs after a SIGKILL. */
function mortal(real: Store): { store: Store; kill(): void } {
  let dead = false;
  const store = aroundEveryMethod(real, (_name, call) => {
    if (dead) throw new Error('the relay process was killed');
    return call();
  });
  return { store, kill: () => (dead = true) };
}

/** Calls to Concur about one request, in order: 'get' (a read-back) or 'put', with the status answered. */
async function concurCalls(id: string): Promise<string[]> {
  return (await calls(sb))
    .filter((c) => (c.route === 'get' || c.route === 'put') && c.path.endsWith(`/${id}`))
    .map((c) => `${c.route} ${c.status ?? '-'}`);
}

/** Runs one worker until Concur has applied the reply and then kills it before the 204 is recorded. */
async function crashAfterConcurApplied(w: World, requestId: string, status: ReplyCode): Promise<number> {
  const dying = mortal(store);
  const { replyId } = store.replies.enqueue(requestId, status, { actor: TESTER });
  sb.hooks.onReplyApplied = (applied) => {
    if (applied.requestId === requestId) dying.kill();
  };
  // Not in `running`: a dead process is not stopped, it is gone.
  await createOutbox({ client: w.client(), exchange: w.exchange(), store: dying.store, logger: log.logger, metrics, now: harness.clock.now }).drain();
  sb.hooks.onReplyApplied = undefined;
  store = harness.reopen();
  return replyId;
}

/** Runs one worker until its PUT is about to go out, then abandons it there: the PUT never leaves. */
async function crashBeforePut(w: World, requestId: string, status: ReplyCode): Promise<number> {
  const { replyId } = store.replies.enqueue(requestId, status, { actor: TESTER });
  const real = w.client();
  let reached = false;
  const client: Pick<ConcurClient, 'putStatus' | 'get'> = {
    get: (id) => real.get(id),
    putStatus: () => {
      reached = true;
      return new Promise<void>(() => {});
    },
  };
  void createOutbox({ client, exchange: w.exchange(), store, logger: log.logger, metrics, now: harness.clock.now }).drain();
  await waitFor(() => reached, 2000, 'the PUT about to go out');
  store = harness.reopen();
  return replyId;
}

describe.each(VERSIONS)('API $version: a reply in doubt after a crash', (v) => {
  const w = worldFor(v);
  const { outbox, ingest } = w;
  it.each([
    ['CRSUC', 'connected'],
    ['CREU1', 'failed'],
    ['CREU2', 'failed'],
    ['CREU3', 'failed'],
    ['CRPA1', 'failed'],
    ['CRPA2', 'failed'],
  ] as const)('%s applied by Concur, the relay killed before recording it: read back, recorded sent, no second PUT', async (code, group) => {
    await addRequests(sb, [{ id: 'R1' }, { id: 'R2' }]);
    await ingest();
    const replyId = await crashAfterConcurApplied(w, 'R1', code);
    expect(store.replies.get(replyId)).toMatchObject({ state: 'queued' });
    expect((await sandboxRequest(sb, 'R1')).status).toBe(v.after[code]);

    const heard: OutboxReply[] = [];
    await outbox({ onSent: (reply) => heard.push(reply) }).drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 1, lastError: null, nextAttemptAt: null });
    expect(store.requests.get('R1')).toMatchObject({ status: code, group, reply: { status: code, state: 'sent' } });
    expect(heard.map((r) => r.id)).toEqual([replyId]);
    expect(await concurCalls('R1')).toEqual(['put 204', 'get 200']);
    expect(sb.state.get('R1')!.successfulPuts).toBe(1);
    expect(sb.state.get('R2')!.successfulPuts).toBe(0);

    // And nothing more later.
    harness.clock.advance(3600_000);
    await outbox().drain();
    expect(sb.state.get('R1')!.successfulPuts).toBe(1);
  });

  it('the relay killed before the PUT went out: read back (still Pending), then exactly one PUT', async () => {
    await addRequests(sb, { id: 'N1' });
    await ingest();
    const replyId = await crashBeforePut(w, 'N1', 'CREU3');
    expect(await concurCalls('N1')).toEqual([]);

    await outbox().drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 1 });
    expect(await concurCalls('N1')).toEqual(['get 200', 'put 204']);
    expect(sb.state.get('N1')).toMatchObject({ status: v.after.CREU3, successfulPuts: 1 });
  });

  it('CRRET applied (Concur shows a new request token): recorded sent without a second PUT, one retry used', async () => {
    await addRequests(sb, [{ id: 'T1' }, { id: 'T2' }]);
    await ingest();
    const replyId = await crashAfterConcurApplied(w, 'T1', 'CRRET');
    expect(sb.state.get('T1')).toMatchObject({ status: 'Pending', retries: 1 });

    await outbox().drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 1 });
    expect(store.requests.get('T1')).toMatchObject({ status: 'CRRET', retries: 1 });
    expect(await concurCalls('T1')).toEqual(['put 204', 'get 200']);
    expect(sb.state.get('T1')).toMatchObject({ status: v.crretThenReadBack, retries: 1, successfulPuts: 1 });
  });

  it('CRRET whose PUT never went out (the same token at Concur): read back, then exactly one PUT', async () => {
    await addRequests(sb, { id: 'T3' });
    await ingest();
    const replyId = await crashBeforePut(w, 'T3', 'CRRET');
    await outbox().drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 1 });
    expect(await concurCalls('T3')).toEqual(['get 200', 'put 204']);
    expect(sb.state.get('T3')).toMatchObject({ retries: 1, successfulPuts: 1 });
  });

  it('a read-back that fails backs off like a PUT and never PUTs blind', async () => {
    await addRequests(sb, { id: 'B1' });
    await ingest();
    const replyId = await crashBeforePut(w, 'B1', 'CRSUC');
    await fault(sb, { route: 'get', kind: 'status503', times: 2 });
    const o = outbox();

    await o.drain();
    const first = store.replies.get(replyId)!;
    expect(first).toMatchObject({ state: 'queued', attempts: 1 });
    expect(first.nextAttemptAt).toBe(new Date(harness.clock.ms + 750).toISOString());
    expect(first.lastError).toMatch(/^Concur is unavailable \(503\).*; next try at /);
    expect(await concurCalls('B1')).toEqual(['get 503']);

    await o.drain(); // not due yet
    const waits: number[] = [];
    for (let i = 0; i < 4 && store.replies.get(replyId)!.state === 'queued'; i++) {
      const due = Date.parse(store.replies.get(replyId)!.nextAttemptAt!);
      waits.push(due - harness.clock.ms);
      harness.clock.ms = due;
      await o.drain();
    }
    expect(waits).toEqual([750, 1500]);
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 3 });
    expect(await concurCalls('B1')).toEqual(['get 503', 'get 503', 'get 200', 'put 204']);
    expect(sb.state.get('B1')!.successfulPuts).toBe(1);
  });
  it('a read-back Concur answers with 404: only the PUT can settle it (404 again → failed)', async () => {
    store.requests.upsertFromConcur([record('GHOST')], harness.clock.iso());
    const replyId = await crashBeforePut(w, 'GHOST', 'CREU1');
    await outbox().drain();
    expect(store.replies.get(replyId)).toMatchObject({
      state: 'failed',
      attempts: 1,
      lastError: 'Concur answered 404: Connection request GHOST was not found.',
    });
    expect(await concurCalls('GHOST')).toEqual(['get 404', 'put 404']);
    expect(log.lines().some((l) => String(l.msg).startsWith('cannot read back a reply in doubt (Concur answered 404'))).toBe(true);
  });
});

describe.each(VERSIONS)('API $version: a reply in doubt while the relay runs', (v) => {
  const w = worldFor(v);
  const { outbox, ingest } = w;
  it('a PUT that timed out after Concur applied it is read back, not sent again', async () => {
    await addRequests(sb, { id: 'L1' });
    await ingest();
    let late = true;
    sb.hooks.onReplyApplied = async () => {
      // Only the first answer comes too late.
      if (late) await sleep(400);
      late = false;
    };
    const o = outbox({ client: w.client({ timeoutMs: 150 }) });
    const { replyId } = store.replies.enqueue('L1', 'CREU1', { actor: TESTER });
    await o.drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'queued', attempts: 1 });
    expect(store.replies.get(replyId)!.lastError).toMatch(/did not answer within 0\.15 s/);
    await waitFor(() => sb.calls.list().some((c) => c.route === 'put' && c.status === 204), 2000, 'the late 204');

    harness.clock.advance(60_000);
    await o.drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 2 });
    expect(await concurCalls('L1')).toEqual(['put 204', 'get 200']);
    expect(sb.state.get('L1')!.successfulPuts).toBe(1);
  });

  it('a store that cannot record that an attempt starts sends nothing', async () => {
    await addRequests(sb, { id: 'W1' });
    await ingest();
    const { replyId } = store.replies.enqueue('W1', 'CRSUC', { actor: TESTER });
    let broken = true;
    const reads = new Set(['replies.due', 'replies.nextDueAt', 'replies.get', 'requests.get', 'requests.getRequestToken']);
    const readOnly = aroundEveryMethod(store, (name, call) => {
      if (broken && !reads.has(name)) throw new Error('SQLITE_READONLY: attempt to write a readonly database');
      return call();
    });
    const o = outbox({ store: readOnly, now: Date.now, baseDelayMs: 30, maxDelayMs: 60 });
    o.start();
    await waitFor(() => log.lines().some((l) => l.level === 50), 1000, 'the store error');
    await sleep(100);
    expect(await concurCalls('W1')).toEqual([]);
    broken = false;
    await waitFor(() => store.replies.get(replyId)?.state === 'sent', 2000, 'the reply sent');
    expect(sb.state.get('W1')!.successfulPuts).toBe(1);
  });
});

describe('API 3.2 only: a reply in doubt whose PUT popped the request from the queue', () => {
  const w = worldFor(VERSIONS.find((v) => v.version === '3.2')!);
  const { outbox, ingest } = w;

  it.each(['CREU1', 'CRRET'] as const)('%s: Concur’s GET by id shows it Pending with a new token; read back as applied, never PUT again (Concur would refuse it)', async (code) => {
    await addRequests(sb, [{ id: 'Q1' }, { id: 'Q2' }]);
    await ingest();
    const replyId = await crashAfterConcurApplied(w, 'Q1', code);
    const popped = await control<{ request: { status: string; poppedUntil: string | null } }>(sb, 'GET', '/requests/Q1');
    expect(popped.request).toMatchObject({ status: 'Pending', poppedUntil: expect.any(String) });

    await outbox().drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 1, lastError: null });
    expect(await concurCalls('Q1')).toEqual(['put 204', 'get 200']);
    expect(log.lines().some((l) => l.msg === 'reply confirmed by reading it back: Concur shows a new request token; not sent again')).toBe(true);
    // What a second PUT would have met: the request is out of the queue until it comes back.
    const again = await w.client().putStatus('Q1', code).catch((error: unknown) => error);
    expect(again).toMatchObject({ status: 400, concurMessage: expect.stringMatching(/^Connection request Q1 is not in the queue/) });
    expect(sb.state.get('Q1')!.successfulPuts).toBe(1);
    expect(store.requests.get('Q1')).toMatchObject({ status: code, reply: { status: code, state: 'sent' } });
  });

  it.each(['CREU1', 'CRRET'] as const)('%s whose PUT never went out, when every list hands out new tokens (quirk tokenOnGet): the list’s token is no proof; sent exactly once', async (code) => {
    await control(sb, 'PUT', '/quirks', { tokenOnGet: true });
    await addRequests(sb, { id: 'G1' });
    await ingest();
    const replyId = await crashBeforePut(w, 'G1', code);
    // A sweep before the read-back: the request is still in the queue, and its list gave it a new token.
    await ingest();
    expect(store.requests.getRequestToken('G1')).toBe(sb.state.get('G1')!.requestToken);

    await outbox().drain();
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 1 });
    expect(await concurCalls('G1')).toEqual(['get 200', 'put 204']);
    expect(sb.state.get('G1')).toMatchObject({ successfulPuts: 1, lastReply: code });
  });
});

