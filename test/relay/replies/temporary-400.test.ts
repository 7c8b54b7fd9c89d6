import { describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../../../relay/sandbox/server.js';
import type { Store } from '../../../relay/store/index.js';
import { TESTER, type StoreHarness } from '../store/helpers.js';
import { addRequests, calls, fault, type CapturedLog } from '../helpers.js';
import { VERSIONS, worldOf } from './versions.js';

/**
 * The two 400s Concur calls temporary (the request limit; a database deadlock, "resend the request
 * a short time later") are retried with the outbox's backoff, in API 3.0 and 3.2, and no read-back
 * is needed first (Concur processed nothing); every other 400 still fails the reply at once.
 */

let sb: RunningSandbox;
let harness: StoreHarness;
let store: Store;
let log: CapturedLog;

/** Runs the outbox until the reply is settled, moving the store's clock to each retry. */
async function settle(outbox: () => { drain(): Promise<void> }, replyId: number): Promise<void> {
  const o = outbox();
  await o.drain();
  for (let i = 0; i < 10 && store.replies.get(replyId)!.state === 'queued'; i++) {
    harness.clock.ms = Date.parse(store.replies.get(replyId)!.nextAttemptAt!);
    await o.drain();
  }
}

const putStatuses = async () => (await calls(sb)).filter((call) => call.route === 'put').map((call) => call.status);

describe.each(VERSIONS)('outbox, API $version: Concur’s temporary 400s', (v) => {
  const { outbox, ingest, client } = worldOf(v, { random: 16 }, (world) => ({ sb, harness, store, log } = world));

  it('a database deadlock twice: retried with backoff and no read-back, then sent (3 attempts)', async () => {
    await addRequests(sb, { id: 'R1' });
    await ingest();
    await fault(sb, { route: 'put', kind: 'deadlock400', times: 2 });
    const { replyId } = store.replies.enqueue('R1', 'CREU2', { actor: TESTER });
    const o = outbox();
    await o.drain();
    const first = store.replies.get(replyId)!;
    expect(first).toMatchObject({ state: 'queued', attempts: 1 });
    expect(first.lastError).toMatch(/^Concur hit a database deadlock and asks to resend a short time later \(400\): The request encountered a database deadlock/);
    expect(first.inDoubt).toBeUndefined();
    await settle(outbox, replyId);
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 3, lastError: null });
    expect(await putStatuses()).toEqual([400, 400, 204]);
    expect((await calls(sb)).some((call) => call.route === 'get')).toBe(false);
    expect(log.text()).not.toContain('reply failed');
  });

  it('the request limit: retried after the backoff, then sent', async () => {
    await addRequests(sb, { id: 'R1' });
    await ingest();
    await fault(sb, { route: 'put', kind: 'limit400', times: 1 });
    const { replyId } = store.replies.enqueue('R1', 'CRRET', { actor: TESTER });
    const o = outbox();
    await o.drain();
    const first = store.replies.get(replyId)!;
    expect(first.lastError).toMatch(/^Concur received more requests than its limit \(400\)/);
    expect(Date.parse(first.nextAttemptAt!) - harness.clock.ms).toBe(750);
    await settle(outbox, replyId);
    expect(store.replies.get(replyId)).toMatchObject({ state: 'sent', attempts: 2 });
    expect(await putStatuses()).toEqual([400, 204]);
  });

  it('any other 400 stays final: the reply fails at once with Concur’s words, never retried', async () => {
    await addRequests(sb, { id: 'R1', status: 'Connected' });
    store.requests.upsertFromConcur([{ ...(await client().get('R1')), status: 'Pending' }], harness.clock.iso());
    const { replyId } = store.replies.enqueue('R1', 'CREU1', { actor: TESTER });
    await settle(outbox, replyId);
    expect(store.replies.get(replyId)).toMatchObject({
      state: 'failed',
      attempts: 1,
      lastError: 'Concur answered 400: Connection request R1 is already Connected; its status can no longer be changed.',
    });
    expect(await putStatuses()).toEqual([400]);
  });
});
