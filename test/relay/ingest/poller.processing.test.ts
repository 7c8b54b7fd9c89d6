import { describe, expect, it } from 'vitest';
import type { Poller, PollerOptions } from '../../../relay/ingest/poller.js';
import type { RunningSandbox } from '../../../relay/sandbox/server.js';
import type { Store } from '../../../relay/store/index.js';
import type { StoreHarness } from '../store/helpers.js';
import { addRequests, control, listCalls, sandboxRequest, VERSIONS, workerWorld, type VersionCase } from '../helpers.js';

/**
 * The seed's reading of Processing against the sandbox's default (`processing: 'token'`): a
 * request is set to Processing once Concur has generated its request token (Example 4), so it
 * leaves `status=pending` before anyone answered it. The relay's 3.0 sweep lists
 * `status=processing` too (its default statuses, SWEEP_STATUSES) and shows those requests as
 * still waiting; 3.2, with no status filter, lists its queue once, where such a request is Pending.
 * Both run against the sandbox (VERSIONS says what differs); the contrast with a 3.0 sweep of the
 * pending list alone runs once.
 */

let sb: RunningSandbox;
let harness: StoreHarness;
let store: Store;

/** A sandbox of its own for the describe block, speaking `v`'s version, and the relay's poller as runtime.ts makes it (no statuses: the client's version picks them). */
function world(v: Pick<VersionCase, 'version'>): (overrides?: Partial<PollerOptions>) => Poller {
  return workerWorld({ random: 29, version: v.version }, (w) => ({ sb, harness, store } = w)).poller;
}

describe.each(VERSIONS)('poller, API $version: Processing (seed, Example 4)', (v) => {
  const poller = world(v);

  it('the sweep reads the version’s lists: a request Concur handed out is still waiting', async () => {
    const added = await addRequests(sb, { count: 3 });
    const first = await poller().sweepNow();
    // Each list after the first reads the three again, now Processing at Concur (3.0's processing list).
    const lists = v.sweepLists.length;
    expect(first).toMatchObject({ outcome: 'ok', created: 3, updated: 3 * (lists - 1), seen: 3 * lists });
    const calls = await listCalls(sb);
    expect(calls.map((call) => call.query.status)).toEqual(v.sweepLists);
    for (const call of calls) expect(call.path.startsWith(v.path)).toBe(true);
    for (const r of added) {
      expect((await sandboxRequest(sb, r.id)).status).toBe('Processing');
      expect(store.requests.get(r.id)).toMatchObject({ status: v.handedOut, group: 'pending' });
    }
    expect(store.requests.counts()).toEqual({ pending: 3, failed: 0, connected: 0 });

    // The next sweep finds them again, once each, and nothing changed.
    const latest = store.events.latestId();
    harness.clock.advance(60_000);
    expect(await poller().sweepNow()).toMatchObject({ outcome: 'ok', created: 0, updated: 0, seen: 3 });
    expect(store.events.after(latest, 100)).toEqual([]);
    expect(store.requests.counts()).toEqual({ pending: 3, failed: 0, connected: 0 });
  });

  it('a request Concur handed out before the relay first swept is waiting in the relay', async () => {
    const [early, late] = await addRequests(sb, [{}, {}]);
    // Someone (a GET by id, say) was given EARLY's token first: it is Processing before the relay looks.
    const res = await fetch(`${sb.url}${v.path}/${early!.id}`, { headers: { Authorization: `OAuth ${sb.accessToken}` } });
    expect(res.status).toBe(200);
    expect((await sandboxRequest(sb, early!.id)).status).toBe('Processing');

    expect(await poller().sweepNow()).toMatchObject({ outcome: 'ok', created: 2 });
    expect(store.requests.get(early!.id)).toMatchObject({ status: v.handedOut, group: 'pending' });
    expect(store.requests.get(late!.id)).toMatchObject({ group: 'pending' });
    expect(store.requests.counts()).toEqual({ pending: 2, failed: 0, connected: 0 });
  });

  it('under the sandbox’s older reading (Pending until the exchange) the same sweep sees the same requests, Pending', async () => {
    await control(sb, 'PUT', '/quirks', { processing: 'exchange' });
    await addRequests(sb, { count: 2 });
    expect(await poller().sweepNow()).toMatchObject({ outcome: 'ok', created: 2, updated: 0, seen: 2 });
    expect(store.requests.counts().pending).toBe(2);
    for (const r of store.requests.list({ limit: 10 }).items) expect(r.status).toBe('Pending');
  });
});

describe('poller, API 3.0: why it lists status=processing too', () => {
  const poller = world({ version: '3.0' });

  it('a sweep of the pending list alone (the relay before) never meets a request handed out before it looked', async () => {
    const [early, late] = await addRequests(sb, [{ id: 'EARLY' }, { id: 'LATE' }]);
    await fetch(`${sb.url}/api/v3.0/common/connectionrequests/EARLY`, { headers: { Authorization: `OAuth ${sb.accessToken}` } });
    await poller({ statuses: ['Pending'] }).sweepNow();
    expect(store.requests.get(early!.id)).toBeUndefined();
    expect(store.requests.get(late!.id)).toBeDefined();
    // …the relay's own sweep does.
    expect(await poller().sweepNow()).toMatchObject({ outcome: 'ok', created: 1 });
    expect(store.requests.get(early!.id)).toMatchObject({ status: 'Processing', group: 'pending' });
  });
});
