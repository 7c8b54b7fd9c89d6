import { beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import type { ConnectionRequest } from '../../../shared/models';
import {
  NOTIFY_LIMITS,
  notifyPending,
  notifyStateItem,
  openNotification,
  travellerName,
} from '../../../extension/background/notifications';
import { BACKGROUND_TEXT } from '../../../extension/lib/texts';
import { makeRequest } from '../helpers/relay-double';

const RELAY = 'http://127.0.0.1:8787';
const ON = { relayUrl: RELAY, notifications: true };

async function shown(): Promise<Record<string, { title?: string; message?: string }>> {
  return (await fakeBrowser.notifications.getAll()) as Record<string, { title?: string; message?: string }>;
}

/** The first sync for RELAY has happened with these requests pending. */
async function synced(pending: ConnectionRequest[] = []): Promise<void> {
  const first = await notifyPending(pending, ON);
  expect(first.firstSync).toBe(true);
}

beforeEach(() => {
  fakeBrowser.reset();
  vi.restoreAllMocks();
});

describe('first sync after (re)configuration', () => {
  it('takes what is already pending as known, silently', async () => {
    const pending = [makeRequest(), makeRequest(), makeRequest(), makeRequest(), makeRequest()];
    const result = await notifyPending(pending, ON);
    expect(result).toMatchObject({ firstSync: true, created: [] });
    expect(await shown()).toEqual({});

    // …and they stay known.
    expect((await notifyPending(pending, ON)).created).toEqual([]);
    expect(await shown()).toEqual({});
  });

  it('another relay address starts afresh, silently again', async () => {
    const a = makeRequest();
    await synced([a]);
    const b = makeRequest();
    const result = await notifyPending([a, b], { relayUrl: 'https://other.example.com', notifications: true });
    expect(result.firstSync).toBe(true);
    expect(await shown()).toEqual({});
  });
});

describe('one notification per new request', () => {
  it('announces a new request once, with name and loyalty number', async () => {
    const old = makeRequest();
    await synced([old]);
    const fresh = makeRequest({ firstName: 'Grace', lastName: 'Hopper', loyaltyNumber: 'BA123' });
    const result = await notifyPending([old, fresh], ON);
    expect(result.created).toEqual([`triplink:${fresh.id}`]);
    expect(await shown()).toEqual({
      [`triplink:${fresh.id}`]: expect.objectContaining({
        type: 'basic',
        title: BACKGROUND_TEXT.notification.oneTitle('Grace Hopper'),
        message: BACKGROUND_TEXT.notification.oneMessage('BA123'),
        iconUrl: fakeBrowser.runtime.getURL('/icon/128.png'),
      }),
    });

    // The same request in the next refresh: nothing more, even if the user dismissed it.
    await fakeBrowser.notifications.clear(`triplink:${fresh.id}`);
    const create = vi.spyOn(fakeBrowser.notifications, 'create');
    expect((await notifyPending([old, fresh], ON)).created).toEqual([]);
    expect(create).not.toHaveBeenCalled();
  });

  it('never twice, also after a restart (new module state, same storage)', async () => {
    const old = makeRequest();
    await synced([old]);
    const fresh = makeRequest();
    expect((await notifyPending([old, fresh], ON)).created).toHaveLength(1);

    vi.resetModules();
    const restarted = await import('../../../extension/background/notifications');
    expect(restarted.notifyPending).not.toBe(notifyPending);
    const create = vi.spyOn(fakeBrowser.notifications, 'create');
    const again = await restarted.notifyPending([old, fresh], ON);
    expect(again).toMatchObject({ firstSync: false, created: [], fresh: [] });
    expect(create).not.toHaveBeenCalled();
  });

  it('a request that leaves pending and comes back is not announced again', async () => {
    const request = makeRequest();
    await synced([]);
    expect((await notifyPending([request], ON)).created).toHaveLength(1);
    await notifyPending([], ON); // e.g. failed
    expect((await notifyPending([request], ON)).created).toEqual([]); // CRRET: pending again
  });

  it('three at once are three notifications', async () => {
    await synced([]);
    const three = [makeRequest(), makeRequest(), makeRequest()];
    const result = await notifyPending(three, ON);
    expect(result.created.sort()).toEqual(three.map((r) => `triplink:${r.id}`).sort());
  });
});

describe('grouping', () => {
  it('five at once are one summary notification', async () => {
    await synced([makeRequest()]);
    const five = [
      makeRequest({ firstName: 'A', lastName: 'One' }),
      makeRequest({ firstName: 'B', lastName: 'Two' }),
      makeRequest({ firstName: 'C', lastName: 'Three' }),
      makeRequest({ firstName: 'D', lastName: 'Four' }),
      makeRequest({ firstName: 'E', lastName: 'Five' }),
    ];
    expect(five.length).toBeGreaterThan(NOTIFY_LIMITS.groupAbove);
    const result = await notifyPending(five, ON);
    expect(result.created).toHaveLength(1);
    const [id] = result.created;
    expect(id).toMatch(/^triplink:summary:\d+$/);
    const all = await shown();
    expect(Object.keys(all)).toEqual([id]);
    expect(all[id!]).toMatchObject({
      title: BACKGROUND_TEXT.notification.manyTitle(5),
      message: BACKGROUND_TEXT.notification.manyMessage(['A One', 'B Two', 'C Three'], 2),
    });
    // None of the five is announced again one by one.
    expect((await notifyPending(five, ON)).created).toEqual([]);
  });
});

describe('setting off', () => {
  it('shows nothing, and what arrived meanwhile is not announced when switched on', async () => {
    const off = { relayUrl: RELAY, notifications: false };
    await synced([]);
    const whileOff = makeRequest();
    expect((await notifyPending([whileOff], off)).created).toEqual([]);
    expect(await shown()).toEqual({});
    const later = makeRequest();
    const result = await notifyPending([whileOff, later], ON);
    expect(result.created).toEqual([`triplink:${later.id}`]);
  });
});

describe('stale notifications', () => {
  it('are cleared when their request is no longer pending', async () => {
    await synced([]);
    const a = makeRequest();
    const b = makeRequest();
    await notifyPending([a, b], ON);
    expect(Object.keys(await shown()).sort()).toEqual([`triplink:${a.id}`, `triplink:${b.id}`].sort());
    const result = await notifyPending([b], ON);
    expect(result.cleared).toEqual([`triplink:${a.id}`]);
    expect(Object.keys(await shown())).toEqual([`triplink:${b.id}`]);
  });

  it('a summary stays while one of its requests is pending', async () => {
    await synced([]);
    const five = [makeRequest(), makeRequest(), makeRequest(), makeRequest(), makeRequest()];
    const [summary] = (await notifyPending(five, ON)).created;
    await notifyPending(five.slice(4), ON);
    expect(Object.keys(await shown())).toEqual([summary]);
    await notifyPending([], ON);
    expect(await shown()).toEqual({});
    expect((await notifyStateItem.getValue()).open).toEqual({});
  });
});

describe('click', () => {
  it('opens the request in the extension’s view and clears the notification', async () => {
    await synced([]);
    const request = makeRequest({ id: 'id with/odd#chars' });
    await notifyPending([request], ON);
    const create = vi.spyOn(fakeBrowser.tabs, 'create');
    const id = `triplink:${request.id}`;
    expect(await openNotification(id)).toBe(true);
    expect(create).toHaveBeenCalledWith({
      url: `${fakeBrowser.runtime.getURL('/popup.html')}#request=${encodeURIComponent(request.id)}`,
      active: true,
    });
    expect(await shown()).toEqual({});
    expect((await notifyStateItem.getValue()).open).toEqual({});
  });

  it('a summary opens the pending group', async () => {
    await synced([]);
    const [summary] = (await notifyPending([makeRequest(), makeRequest(), makeRequest(), makeRequest()], ON)).created;
    const create = vi.spyOn(fakeBrowser.tabs, 'create');
    expect(await openNotification(summary!)).toBe(true);
    expect(create).toHaveBeenCalledWith({ url: `${fakeBrowser.runtime.getURL('/popup.html')}#group=pending`, active: true });
  });

  it('ignores notifications that are not ours', async () => {
    const create = vi.spyOn(fakeBrowser.tabs, 'create');
    expect(await openNotification('someone-else')).toBe(false);
    expect(create).not.toHaveBeenCalled();
  });
});

describe('bounded memory', () => {
  it('remembers at most maxKnown ids, always keeping those still pending', async () => {
    const many = Array.from({ length: NOTIFY_LIMITS.maxKnown + 50 }, (_, i) => makeRequest({ id: `bulk-${i}` }));
    await synced(many.slice(0, NOTIFY_LIMITS.maxKnown));
    await notifyPending(many.slice(NOTIFY_LIMITS.maxKnown - 10), { relayUrl: RELAY, notifications: false });
    const { known } = await notifyStateItem.getValue();
    expect(known).toHaveLength(NOTIFY_LIMITS.maxKnown);
    expect(known.slice(-60)).toEqual(many.slice(NOTIFY_LIMITS.maxKnown - 10).map((r) => r.id));
  });
});

describe('travellerName', () => {
  it('joins the parts Concur sent, or says there is no name', () => {
    expect(travellerName({ firstName: 'Ada', middleName: 'K.', lastName: 'Lovelace' })).toBe('Ada K. Lovelace');
    expect(travellerName({ firstName: ' ', middleName: null, lastName: 'Solo' })).toBe('Solo');
    expect(travellerName({ firstName: null, middleName: null, lastName: '' })).toBe(BACKGROUND_TEXT.notification.unnamed);
  });
});
