import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../../relay/base/metrics.js';
import { createPoller } from '../../../relay/ingest/poller.js';
import { createOutbox, type Outbox } from '../../../relay/replies/outbox.js';
import type { RunningSandbox } from '../../../relay/sandbox/server.js';
import { DEFAULT_REPLY_LEASE_MS } from '../../../relay/store/index.js';
import { DatabaseHarness, type TestStore } from '../store/databases.js';
import { TESTER } from '../store/helpers.js';
import {
  addRequests,
  calls,
  captureLog,
  clientFor,
  fault,
  fixedRandom,
  putCalls,
  sandboxPerFile,
  sandboxSecrets,
  type CapturedLog,
} from '../helpers.js';

/**
 * Issue 18's promise for the return path: replies spread over several relays on one PostgreSQL
 * database, Concur failing some PUTs, and still every request gets exactly one PUT Concur
 * accepted. Concur here accepts a repeated reply (as it does for a second CREU code), so a reply
 * sent twice would show as two accepted PUTs.
 */

const REPLIES = 150;
const RELAYS = 3;

let sb: RunningSandbox;
sandboxPerFile({ random: 18, quirks: { repeatReplies: 'accept' } }, (s) => (sb = s));

describe('the outbox of several relays on one PostgreSQL database', () => {
  let harness: DatabaseHarness;
  let log: CapturedLog;
  const outboxes: Outbox[] = [];
  beforeEach(() => {
    harness = new DatabaseHarness({ kind: 'postgres', name: 'PostgreSQL' });
    log = captureLog();
  });
  afterEach(async () => {
    for (const outbox of outboxes.splice(0)) await outbox.stop();
    for (const secret of sandboxSecrets(sb)) expect(log.text()).not.toContain(secret);
    await harness.cleanup();
  });

  function outboxOf(store: TestStore, sent: string[]): Outbox {
    const outbox = createOutbox({
      client: clientFor(sb),
      exchange: null,
      store,
      logger: log.logger,
      metrics: new Metrics(),
      now: harness.clock.now,
      random: fixedRandom(0.5),
      baseDelayMs: 1000,
      maxDelayMs: 60_000,
      onSent: (reply) => sent.push(reply.requestId),
    });
    outboxes.push(outbox);
    return outbox;
  }

  async function ingest(store: TestStore): Promise<void> {
    const poller = createPoller({ client: clientFor(sb), store, intervalMs: 60_000, logger: log.logger, metrics: new Metrics(), now: harness.clock.now });
    expect((await poller.sweepNow()).outcome).toBe('ok');
  }

  it(`${REPLIES} replies over ${RELAYS} relays, 30 % of PUTs answered 503: every request gets exactly one accepted PUT`, async () => {
    const relays: TestStore[] = [];
    for (let i = 0; i < RELAYS; i++) relays.push(await harness.store({ relayId: `relay-${i}` }));
    const seeded = [];
    // The sandbox takes 500 at a time.
    for (let from = 0; from < REPLIES; from += 500) {
      seeded.push(...(await addRequests(sb, Array.from({ length: Math.min(500, REPLIES - from) }, (_, i) => ({ id: `P${from + i}` })))));
    }
    await ingest(relays[0]!);
    // Queued through every relay's API, as a load balancer would spread them.
    for (const [i, request] of seeded.entries()) await relays[i % RELAYS]!.replies.enqueue(request.id, 'CREU1', { actor: TESTER });
    await fault(sb, { route: 'put', kind: 'status503', ratio: 0.3 });

    const sentBy = relays.map(() => [] as string[]);
    const workers = relays.map((relay, i) => outboxOf(relay, sentBy[i]!));
    for (let round = 0; round < 30 && (await relays[0]!.replies.pendingCount()) > 0; round++) {
      // Every relay works through what is due at the same time; retries come due a backoff later.
      await Promise.all(workers.map((worker) => worker.drain()));
      harness.clock.advance(61_000);
    }

    expect(await relays[0]!.replies.counts()).toMatchObject({ queued: 0, sent: REPLIES, failed: 0 });
    const accepted = seeded.map((request) => sb.state.get(request.id)!.successfulPuts);
    expect(accepted.filter((n) => n !== 1)).toEqual([]);
    // Each reply was sent by one relay, and the work was shared.
    expect(sentBy.flat().sort()).toEqual(seeded.map((r) => r.id).sort());
    for (const sent of sentBy) expect(sent.length).toBeGreaterThan(0);
    const puts = (await calls(sb)).filter((c) => c.route === 'put');
    expect(puts.filter((c) => c.status === 503).length).toBeGreaterThan(0.25 * puts.length);
  });

  it('a relay whose claim lapsed before its PUT leaves the reply to the relay that took it over: no PUT, no error', async () => {
    const a = await harness.store({ relayId: 'relay-a' });
    const b = await harness.store({ relayId: 'relay-b' });
    await addRequests(sb, [{ id: 'L1' }]);
    await ingest(a);
    const { replyId } = await a.replies.enqueue('L1', 'CREU1', { actor: TESTER });
    const handedToA = await a.replies.due(harness.clock.iso(), 10);
    harness.clock.advance(DEFAULT_REPLY_LEASE_MS);
    expect((await b.replies.due(harness.clock.iso(), 10)).map((r) => r.id)).toEqual([replyId]);

    // A gets to the reply only now, with what it was handed before its lease ran out.
    let late = handedToA;
    const handedOnce = async () => {
      const batch = late;
      late = [];
      return batch;
    };
    const sentByA: string[] = [];
    await outboxOf({ ...a, replies: { ...a.replies, due: handedOnce } }, sentByA).drain();
    expect(await putCalls(sb, 'L1')).toEqual([]);
    expect(sentByA).toEqual([]);
    expect(log.lines().filter((line) => (line.level as number) >= 50)).toEqual([]);
    expect(log.text()).toContain('another relay is sending this reply');

    const sentByB: string[] = [];
    await outboxOf(b, sentByB).drain();
    expect(sentByB).toEqual(['L1']);
    expect(sb.state.get('L1')!.successfulPuts).toBe(1);
  });
});
