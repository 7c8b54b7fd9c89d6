import { describe, expect, it } from 'vitest';
import type { Metrics } from '../../../relay/base/metrics.js';
import { createPoller, SWEEP_STATUSES, type Poller, type PollerOptions } from '../../../relay/ingest/poller.js';
import type { RunningSandbox } from '../../../relay/sandbox/server.js';
import type { Store } from '../../../relay/store/index.js';
import type { StoreHarness } from '../store/helpers.js';
import { addRequests, clientFor, control, fixedRandom, listCalls, sandboxRequest, workerWorld, type CapturedLog } from '../helpers.js';

/**
 * The seed's reading of Processing against the sandbox's default (`processing: 'token'`): a
 * request is set to Processing once Concur has generated its request token (Example 4), so it
 * leaves `status=pending` before anyone answered it. The relay's 3.0 sweep lists
 * `status=processing` too (its default statuses, SWEEP_STATUSES) and shows those requests as
 * still waiting; 3.2, with no status filter, lists once.
 */

let sb: RunningSandbox;
let harness: StoreHarness;
let store: Store;
let metrics: Metrics;
let log: CapturedLog;
const { running } = workerWorld({ random: 29 }, (world) => ({ sb, harness, store, metrics, log } = world));

/** The relay's poller as runtime.ts makes it: no statuses given, so the client's version picks them. */
function poller(overrides: Partial<PollerOptions> = {}): Poller {
  const created = createPoller({
    client: clientFor(sb),
    store,
    intervalMs: 60_000,
    logger: log.logger,
    metrics,
    now: harness.clock.now,
    random: fixedRandom(0.5),
    ...overrides,
  });
  running.push(created);
  return created;
}

describe('poller: Processing (seed, Example 4)', () => {
  it('3.0 sweeps the pending list, then the processing one: a request handed out is still waiting, its status Processing', async () => {
    const added = await addRequests(sb, { count: 3 });
    const first = await poller().sweepNow();
    // The pending list handed the three out (they became Processing at Concur), the processing list read them again.
    expect(first).toMatchObject({ outcome: 'ok', created: 3, updated: 3, seen: 6 });
    expect((await listCalls(sb)).map((call) => call.query.status)).toEqual(['Pending', 'Processing']);
    for (const r of added) {
      expect((await sandboxRequest(sb, r.id)).status).toBe('Processing');
      expect(store.requests.get(r.id)).toMatchObject({ status: 'Processing', group: 'pending' });
    }
    expect(store.requests.counts()).toEqual({ pending: 3, failed: 0, connected: 0 });

    // The next sweep finds them on the processing list only, and nothing changed.
    const latest = store.events.latestId();
    harness.clock.advance(60_000);
    expect(await poller().sweepNow()).toMatchObject({ outcome: 'ok', created: 0, updated: 0, seen: 3 });
    expect(store.events.after(latest, 100)).toEqual([]);
    expect(store.requests.counts()).toEqual({ pending: 3, failed: 0, connected: 0 });
  });

  it('a request Concur handed out before the relay first swept is seen only on the processing list', async () => {
    const [early, late] = await addRequests(sb, [{ id: 'EARLY' }, { id: 'LATE' }]);
    // Someone (a GET by id, say) was given EARLY's token first: it is Processing before the relay looks.
    const res = await fetch(`${sb.url}/api/v3.0/common/connectionrequests/EARLY`, { headers: { Authorization: `OAuth ${sb.accessToken}` } });
    expect(res.status).toBe(200);
    expect((await sandboxRequest(sb, early!.id)).status).toBe('Processing');

    // A sweep of the pending list alone (the relay before this change) never meets it…
    await poller({ statuses: ['Pending'] }).sweepNow();
    expect(store.requests.get(early!.id)).toBeUndefined();
    expect(store.requests.get(late!.id)).toBeDefined();
    // …the relay's own sweep does, and counts it as waiting.
    expect(await poller().sweepNow()).toMatchObject({ outcome: 'ok', created: 1 });
    expect(store.requests.get(early!.id)).toMatchObject({ status: 'Processing', group: 'pending' });
    expect(store.requests.counts()).toEqual({ pending: 2, failed: 0, connected: 0 });
  });

  it('under the sandbox’s older reading (Pending until the exchange) the same sweep sees the same requests, Pending', async () => {
    await control(sb, 'PUT', '/quirks', { processing: 'exchange' });
    await addRequests(sb, { count: 2 });
    expect(await poller().sweepNow()).toMatchObject({ outcome: 'ok', created: 2, updated: 0, seen: 2 });
    expect(store.requests.counts().pending).toBe(2);
  });

  it('3.2 has no status filter: one list per sweep, whatever Concur calls the request', async () => {
    expect(SWEEP_STATUSES['3.2']).toEqual(['Pending']);
    await addRequests(sb, { count: 2 });
    const p = poller({ client: clientFor(sb, { version: '3.2' }) });
    expect(await p.sweepNow()).toMatchObject({ outcome: 'ok', created: 2, seen: 2 });
    const lists = await listCalls(sb);
    expect(lists).toHaveLength(1);
    expect(lists[0]!.path).toMatch(/\/api\/v3\.2\//i);
  });
});
