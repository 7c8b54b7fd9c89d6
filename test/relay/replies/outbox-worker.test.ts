import { describe, expect, it } from 'vitest';
import type { Metrics } from '../../../relay/base/metrics.js';
import type { ConcurClient } from '../../../relay/concur/client.js';
import { createPoller } from '../../../relay/ingest/poller.js';
import { createOutbox } from '../../../relay/replies/outbox.js';
import type { RunningSandbox } from '../../../relay/sandbox/server.js';
import type { Store } from '../../../relay/store/index.js';
import { withParts, type StoreHarness } from '../store/helpers.js';
import { addRequests, clearFaults, putCalls, fault, listCalls, sandboxRequest, sleep, waitFor, type CapturedLog } from '../helpers.js';
import { TESTER } from '../store/helpers.js';
import { VERSIONS, worldOf } from './versions.js';

/** The outbox as a worker, in API 3.0 and 3.2: how many at once, restarts, kick and stop, a failing store, the resweep. Concur's answers: outbox.test.ts. */

let sb: RunningSandbox;
let harness: StoreHarness;
let store: Store;
let metrics: Metrics;
let log: CapturedLog;

describe.each(VERSIONS)('outbox, API $version: the worker', (v) => {
  const { running, outbox, ingest, client, putsOf } = worldOf(v, { random: 77 }, (world) => ({ sb, harness, store, metrics, log } = world));

  it('sends replies to different requests concurrently (at most 4), each once', async () => {
    const added = await addRequests(sb, { count: 10 });
    await ingest();
    await fault(sb, { route: 'put', kind: 'latency', latencyMs: 40 });
    const real = client();
    let active = 0;
    let most = 0;
    const counting: Pick<ConcurClient, 'putStatus' | 'get'> = {
      get: (id) => real.get(id),
      async putStatus(id, status) {
        active++;
        most = Math.max(most, active);
        try {
          await real.putStatus(id, status);
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
    const puts = await putsOf('D1');
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
      client: client(),
      store,
      intervalMs: 60_000,
      logger: log.logger,
      metrics,
      now: Date.now,
    });
    running.push(poller);
    poller.start();
    await waitFor(() => store.state.concurStatus().state === 'ok' && !poller.sweeping, 1000, 'the first sweep');
    const sweeps = v.twelveSweptTwice;
    expect(await listCalls(sb)).toHaveLength(sweeps.first.length);

    const o = outbox({ onSent: () => poller.requestResweep(), now: Date.now });
    o.start();
    store.replies.enqueue(added[0]!.id, 'CRSUC', { actor: TESTER });
    o.kick();
    const all = sweeps.first.length + sweeps.again.length;
    await waitFor(async () => (await listCalls(sb)).length >= all && !poller.sweeping, 1000, 'the resweep');
    const list = await listCalls(sb);
    // A first page: no offset (3.0), or 3.2's integer offset 0.
    expect(list.map((c) => [c.query.status, (c.query.offset ?? '0') === '0'])).toEqual([...sweeps.first, ...sweeps.again]);
    // The sent request has left Concur's list; the store keeps it in its new group.
    expect(store.requests.counts()).toEqual({ pending: 11, failed: 0, connected: 1 });
  });

  it('refuses options that cannot work', () => {
    const base = { client: client(), exchange: null, store, logger: log.logger, metrics };
    expect(() => createOutbox({ ...base, baseDelayMs: 0 })).toThrow(RangeError);
    expect(() => createOutbox({ ...base, concurrency: 0 })).toThrow(RangeError);
    expect(() => createOutbox({ ...base, batchSize: 1.5 })).toThrow(RangeError);
  });
});
