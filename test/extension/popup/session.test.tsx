// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import type { ConnectionRequest } from '../../../shared/models.js';
import type { Group } from '../../../shared/status.js';
import { TEXT } from '../../../extension/lib/texts.js';
import { MIN, NOW, ago, fakeClient, fakeLive, request, summaryOf, testDeps } from '../helpers/popup-fixtures.js';
import { $, click, countOf, mount, row, rowIds, rows, settle, tab, unmountAll, waitFor } from '../helpers/popup-dom.js';

/**
 * The first load: the lists and the live stream at once; the lists read again only when they stand
 * before the stream's start (Relay-Event-Id against the greeting's id); each tab on screen as soon
 * as its own list is in.
 */

beforeEach(() => fakeBrowser.reset());
afterEach(() => {
  unmountAll();
  vi.restoreAllMocks();
});

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** The fake client, counting list reads, with a gate per group (open unless closed). */
function countingClient(items: ConnectionRequest[]) {
  const client = fakeClient(items);
  const reads: Group[] = [];
  let summaries = 0;
  const gates: Partial<Record<Group, Promise<void>>> = {};
  const all = client.allRequests.bind(client);
  client.allRequests = async (group: Group) => {
    reads.push(group);
    const list = await all(group);
    await gates[group];
    return list;
  };
  const summary = client.summary.bind(client);
  client.summary = () => {
    summaries += 1;
    return summary();
  };
  return { client, reads, gates, summaries: () => summaries };
}

describe('popup first load', () => {
  it('reads the lists while the stream opens; standing at its start, nothing is read twice; events meanwhile are applied', async () => {
    const a = request({ firstName: 'Ann', lastModified: ago(5 * MIN) });
    const b = request({ firstName: 'Bea', lastModified: ago(6 * MIN) });
    const { client, reads, gates, summaries } = countingClient([a, b]);
    client.eventId = 4;
    const pending = gate();
    gates.pending = pending.promise;
    const live = fakeLive();
    const { root } = await mount(testDeps(client, { followEvents: live.follow }));
    await settle();
    expect(live.calls).toBe(1);
    // The stream has not opened, and every list is asked for.
    expect(reads.sort()).toEqual(['connected', 'failed', 'pending']);
    expect($(root, '.state-loading')).not.toBeNull();
    await live.open();
    // While the pending list is on its way: the stream's greeting (at the lists' event) and a change.
    await live.emit('summary', summaryOf([a, b]), 4);
    const changed = { ...b, status: 'CREU1' as const, group: 'failed' as const, lastModified: new Date(NOW).toISOString() };
    await live.emit('request.updated', changed);
    await live.emit('summary', summaryOf([a, changed]));
    pending.open();
    await waitFor(() => expect(rowIds(root)).toEqual([a.id]));
    await settle();
    expect(countOf(root, 'failed')).toBe('1');
    await click(tab(root, 'failed'));
    expect(rowIds(root)).toEqual([b.id]);
    // One read of each list and one summary: the stream covers everything after them.
    expect(reads).toHaveLength(3);
    expect(summaries()).toBe(1);
    expect($(root, '.live')?.className).toContain('live-open');
  });

  it('reads once more, quietly, when the lists stand before the stream’s start; reconnections read nothing', async () => {
    const a = request();
    const { client, reads } = countingClient([a]);
    client.eventId = 3;
    const live = fakeLive();
    const { root } = await mount(testDeps(client, { followEvents: live.follow }));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    expect(reads).toHaveLength(3);
    expect($(root, '.live')?.className).not.toContain('live-open');
    // Event 4 fell between the lists and the stream's start (5): read again.
    const b = request({ firstName: 'Late', lastModified: new Date(NOW).toISOString() });
    client.items = [a, b];
    client.eventId = 5;
    await live.open();
    await live.emit('summary', summaryOf([a, b]), 5);
    await waitFor(() => expect(rowIds(root)).toEqual([b.id, a.id]));
    expect(reads).toHaveLength(6);
    // A reconnection (followEvents resumes by Last-Event-ID) and its events read nothing.
    await live.open();
    await live.emit('request.updated', { ...b, firstName: 'Later' });
    await settle();
    expect(reads).toHaveLength(6);
  });

  it('checks a load that ends after the greeting too', async () => {
    for (const [eventId, expected] of [
      [7, 3],
      [6, 6],
    ] as const) {
      const { client, reads, gates } = countingClient([request()]);
      client.eventId = eventId;
      const pending = gate();
      gates.pending = pending.promise;
      const live = fakeLive();
      const { root } = await mount(testDeps(client, { followEvents: live.follow }));
      await live.open();
      await live.emit('summary', summaryOf(client.items), 7);
      pending.open();
      await waitFor(() => expect(rows(root)).toHaveLength(1));
      await settle();
      expect(reads, `lists at event ${eventId}, stream from 7`).toHaveLength(expected);
      unmountAll();
    }
  });

  it('reads once more after the greeting when the relay does not say where its answers stand, and only once', async () => {
    const { client, reads } = countingClient([request()]);
    client.eventId = null;
    const live = fakeLive();
    const { root } = await mount(testDeps(client, { followEvents: live.follow }));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await live.open();
    await live.emit('summary', summaryOf(client.items), 9);
    await waitFor(() => expect(reads).toHaveLength(6));
    await settle();
    expect(reads).toHaveLength(6);
  });

  it('shows a tab as soon as its own list is in: a long Connected list does not hold up Pending', async () => {
    const pendingOne = request({ firstName: 'Pat' });
    const connected = Array.from({ length: 30 }, (_, i) => request({ status: 'Connected', lastModified: ago((i + 1) * MIN) }));
    const { client, gates } = countingClient([pendingOne, ...connected]);
    const slow = gate();
    gates.connected = slow.promise;
    const mark = vi.spyOn(performance, 'mark');
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rowIds(root)).toEqual([pendingOne.id]));
    await waitFor(() => expect(mark).toHaveBeenCalledWith('popup:first-render'));
    // The counts come from the summary, all of them, at once.
    expect(countOf(root, 'connected')).toBe('30');
    await click(tab(root, 'connected'));
    expect($(root, '#panel-connected .state-loading')?.textContent).toContain(TEXT.loading);
    expect(rows(root)).toHaveLength(0);
    slow.open();
    await waitFor(() => expect(rows(root).length).toBeGreaterThan(0));
    expect(rowIds(root)[0]).toBe(connected[0]!.id);
    expect(rows(root)[0]!.getAttribute('aria-setsize')).toBe('30');
  });

  it('does not mark the first render before the tab’s list is on screen', async () => {
    const { client, gates } = countingClient([request()]);
    const slow = gate();
    gates.pending = slow.promise;
    const mark = vi.spyOn(performance, 'mark');
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(countOf(root, 'pending')).toBe('1'));
    await settle();
    expect(mark).not.toHaveBeenCalledWith('popup:first-render');
    slow.open();
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await waitFor(() => expect(mark).toHaveBeenCalledWith('popup:first-render'));
  });

  it('#request=<id> in a group still loading waits for it rather than fetching it alone', async () => {
    const failed = request({ firstName: 'Fay', status: 'CREU1' });
    const { client, gates } = countingClient([request(), failed]);
    const slow = gate();
    gates.failed = slow.promise;
    const single = vi.spyOn(client, 'request');
    const { root } = await mount(testDeps(client), `#request=${failed.id}`);
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await settle();
    expect(single).not.toHaveBeenCalled();
    slow.open();
    await waitFor(() => expect(document.activeElement).toBe(row(root, failed.id)));
    expect(tab(root, 'failed').getAttribute('aria-selected')).toBe('true');
    expect(single).not.toHaveBeenCalled();
  });
});
