import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import bg from '../../../extension/entrypoints/background';
import { REFRESH_ALARM, REFRESH_PERIOD_MINUTES } from '../../../extension/background/alarm';
import type { RefreshedReply } from '../../../extension/background/messages';
import { settingsItem } from '../../../extension/lib/settings';
import { refresh, syncSnapshotItem } from '../../../extension/background/sync';
import { BACKGROUND_TEXT, PROBLEM_TEXTS } from '../../../extension/lib/texts';
import { freshBrowserAndRelay } from '../helpers/fresh';
import { DOUBLE_KEY, eventually, makeRequest, RelayDouble } from '../helpers/relay-double';

let relay: RelayDouble;

beforeEach(async () => {
  relay = await freshBrowserAndRelay();
});

afterEach(async () => {
  // The worker is going away: live events stop; then let any refresh still running finish.
  await fakeBrowser.runtime.onSuspend.trigger();
  await refresh();
  await relay.close();
  vi.unstubAllGlobals();
});

async function configure(overrides: { apiKey?: string; notifications?: boolean; relayUrl?: string } = {}) {
  await settingsItem.setValue({ relayUrl: relay.url, apiKey: DOUBLE_KEY, notifications: true, ...overrides });
}

/** Configured and running past its silent first sync; then one request arrives and is announced. */
async function announcedRequest() {
  await configure();
  bg.main();
  await alarm();
  const request = makeRequest();
  relay.requests.push(request);
  await alarm();
  return request;
}

const alarm = () => fakeBrowser.alarms.onAlarm.trigger({ name: REFRESH_ALARM, scheduledTime: Date.now(), periodInMinutes: REFRESH_PERIOD_MINUTES });
const badge = () => fakeBrowser.action.getBadgeText({});
const title = () => fakeBrowser.action.getTitle({});
const shown = async () => Object.keys(await fakeBrowser.notifications.getAll());

describe('install and the alarm', () => {
  it('not configured: opens the options on install, badge says so', async () => {
    const openOptions = vi.spyOn(fakeBrowser.runtime, 'openOptionsPage').mockResolvedValue(undefined);
    bg.main();
    await fakeBrowser.runtime.onInstalled.trigger({ reason: 'install', temporary: false });
    expect(openOptions).toHaveBeenCalledOnce();
    expect(await badge()).toBe(PROBLEM_TEXTS.not_configured.badge);
    expect(await title()).toBe(PROBLEM_TEXTS.not_configured.title);
    expect(await fakeBrowser.alarms.get(REFRESH_ALARM)).toMatchObject({ periodInMinutes: REFRESH_PERIOD_MINUTES });
    expect(relay.calls).toEqual([]);
  });

  it('configured: an update does not open the options', async () => {
    await configure();
    const openOptions = vi.spyOn(fakeBrowser.runtime, 'openOptionsPage').mockResolvedValue(undefined);
    bg.main();
    await fakeBrowser.runtime.onInstalled.trigger({ reason: 'install', temporary: false });
    await fakeBrowser.runtime.onInstalled.trigger({ reason: 'update', temporary: false, previousVersion: '0.0.1' });
    expect(openOptions).not.toHaveBeenCalled();
  });

  it('one periodic alarm, checked on every wake and never recreated each cycle', async () => {
    const create = vi.spyOn(fakeBrowser.alarms, 'create');
    bg.main();
    await eventually(async () => (await fakeBrowser.alarms.get(REFRESH_ALARM)) !== undefined);
    const first = await fakeBrowser.alarms.get(REFRESH_ALARM);
    await alarm();
    await alarm();
    bg.main(); // the service worker wakes again
    await fakeBrowser.runtime.onStartup.trigger();
    expect(create).toHaveBeenCalledTimes(1);
    expect(create).toHaveBeenCalledWith(REFRESH_ALARM, { delayInMinutes: 0.5, periodInMinutes: 0.5 });
    expect(await fakeBrowser.alarms.get(REFRESH_ALARM)).toBe(first);
    expect(await fakeBrowser.alarms.getAll()).toHaveLength(1);
  });
});

describe('refresh against a relay on loopback', () => {
  it('the alarm sets the count; the first sync is silent; a new request is announced once', async () => {
    relay.requests.push(makeRequest(), makeRequest(), makeRequest({ status: 'CREU1' }));
    await configure();
    bg.main();
    await alarm();
    expect(await badge()).toBe('2');
    expect(await title()).toBe(BACKGROUND_TEXT.badgeTitle(2));
    expect(await shown()).toEqual([]);

    const fresh = makeRequest({ firstName: 'Grace', lastName: 'Hopper' });
    await relay.add(fresh); // a live event: refreshes within ~300 ms, no alarm needed
    await eventually(async () => (await badge()) === '3', 3000, 'the live refresh');
    await eventually(async () => (await shown()).length === 1);
    expect(await shown()).toEqual([`triplink:${fresh.id}`]);

    const create = vi.spyOn(fakeBrowser.notifications, 'create');
    await alarm();
    await alarm();
    expect(create).not.toHaveBeenCalled();

    const snapshot = await syncSnapshotItem.getValue();
    expect(snapshot).toMatchObject({ problem: null, summary: { counts: { pending: 3, failed: 1 } } });
    expect(snapshot?.pendingIds).toHaveLength(3);
  });

  it('many new at once: one summary notification', async () => {
    await configure();
    bg.main();
    await alarm();
    relay.requests.push(makeRequest(), makeRequest(), makeRequest(), makeRequest(), makeRequest());
    await alarm();
    const ids = await shown();
    expect(ids).toHaveLength(1);
    expect(ids[0]).toMatch(/^triplink:summary:/);
    expect(await badge()).toBe('5');
  });

  it('notifications off: the count still updates, nothing pops up', async () => {
    await configure({ notifications: false });
    bg.main();
    await alarm();
    relay.requests.push(makeRequest());
    await alarm();
    expect(await badge()).toBe('1');
    expect(await shown()).toEqual([]);
  });

  it('a request that is answered disappears from the count and its notification is cleared', async () => {
    const request = await announcedRequest();
    expect(await shown()).toEqual([`triplink:${request.id}`]);
    await relay.update(request.id, 'CRSUC');
    await eventually(async () => (await badge()) === '' && (await shown()).length === 0, 3000, 'the cleared notification');
  });

  it('Concur degraded or unauthorized: its mark, the count kept in the tooltip', async () => {
    relay.requests.push(makeRequest());
    relay.concurState = 'degraded';
    await configure();
    bg.main();
    await alarm();
    expect(await badge()).toBe(PROBLEM_TEXTS.concur_degraded.badge);
    expect(await title()).toBe(BACKGROUND_TEXT.problemTitle(PROBLEM_TEXTS.concur_degraded.title, 1));
    relay.concurState = 'unauthorized';
    await alarm();
    expect(await badge()).toBe(PROBLEM_TEXTS.concur_unauthorized.badge);
    relay.concurState = 'ok';
    await alarm();
    expect(await badge()).toBe('1');
  });

  it('a refused key shows "key"; saving the right key fixes it without waiting for the alarm', async () => {
    relay.requests.push(makeRequest());
    await configure({ apiKey: 'wrong-key' });
    bg.main();
    await alarm();
    expect(await badge()).toBe(PROBLEM_TEXTS.key_refused.badge);
    expect(await title()).toBe(PROBLEM_TEXTS.key_refused.title);
    expect((await syncSnapshotItem.getValue())?.problem).toBe('key_refused');
    await configure();
    await eventually(async () => (await badge()) === '1', 3000, 'the refresh on settings change');
  });

  it('an unreachable relay shows "!" and keeps the last good summary for the popup', async () => {
    relay.requests.push(makeRequest());
    await configure();
    bg.main();
    await alarm();
    expect(await badge()).toBe('1');
    await fakeBrowser.runtime.onSuspend.trigger();
    await relay.close();
    await alarm();
    expect(await badge()).toBe(PROBLEM_TEXTS.unreachable.badge);
    expect(await syncSnapshotItem.getValue()).toMatchObject({ problem: 'unreachable', summary: { counts: { pending: 1 } } });
  });

  it('offline shows "off" and resumes on the online event', async () => {
    const listeners = new Map<string, () => void>();
    const connection = { onLine: false };
    vi.stubGlobal('navigator', connection);
    vi.stubGlobal('addEventListener', (type: string, listener: () => void) => listeners.set(type, listener));
    relay.requests.push(makeRequest(), makeRequest());
    await configure();
    bg.main();
    await alarm();
    expect(await badge()).toBe(PROBLEM_TEXTS.offline.badge);
    expect(relay.calls.filter((c) => c.path !== '/api/v1/events')).toEqual([]);
    connection.onLine = true;
    listeners.get('online')?.();
    await eventually(async () => (await badge()) === '2', 3000, 'the refresh when back online');
  });
});

describe('clicks, messages and live events', () => {
  it('a notification click opens the request in the extension’s view', async () => {
    const request = await announcedRequest();
    const create = vi.spyOn(fakeBrowser.tabs, 'create');
    await fakeBrowser.notifications.onClicked.trigger(`triplink:${request.id}`);
    expect(create).toHaveBeenCalledWith({
      url: `chrome-extension://${fakeBrowser.runtime.id}/popup.html#request=${encodeURIComponent(request.id)}`,
      active: true,
    });
    expect(await shown()).toEqual([]);
  });

  it('{type:"refresh"} from the popup refreshes and answers with the snapshot', async () => {
    await configure();
    bg.main();
    relay.requests.push(makeRequest(), makeRequest(), makeRequest(), makeRequest());
    const reply = (await fakeBrowser.runtime.sendMessage({ type: 'refresh' })) as RefreshedReply;
    expect(reply.type).toBe('refreshed');
    expect(reply.snapshot.summary?.counts.pending).toBe(4);
    expect(await badge()).toBe('4');
  });

  it('live events refresh the badge (debounced: a burst is one refresh)', async () => {
    await configure();
    bg.main();
    await eventually(() => relay.openStreams === 1, 3000, 'the live stream');
    const summaries = () => relay.calls.filter((c) => c.path === '/api/v1/summary').length;
    // The stream opens with a summary event: that is one refresh.
    await eventually(() => summaries() === 1, 3000, 'the refresh for the greeting');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = summaries();
    await relay.add(makeRequest(), makeRequest(), makeRequest());
    await eventually(async () => (await badge()) === '3', 3000, 'the live refresh');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(summaries() - before).toBe(1);
    expect(relay.calls.find((c) => c.path === '/api/v1/events')?.authorization).toBe(`Bearer ${DOUBLE_KEY}`);
  });

  it('a key revoked while the stream is open: the relay closes it, refuses the reconnect, and the badge says "key" without waiting for the alarm', async () => {
    relay.requests.push(makeRequest());
    await configure();
    bg.main();
    await eventually(() => relay.openStreams === 1, 3000, 'the live stream');
    await eventually(async () => (await badge()) === '1', 3000, 'the first refresh');
    // As the relay does on a revocation: the key stops working and its streams are closed.
    relay.apiKey = 'someone-else';
    relay.dropStreams();
    await eventually(async () => (await badge()) === PROBLEM_TEXTS.key_refused.badge, 3000, 'the badge after the refused reconnect');
    expect(await title()).toBe(PROBLEM_TEXTS.key_refused.title);
    expect(relay.calls.filter((c) => c.path === '/api/v1/events').length).toBeGreaterThanOrEqual(2);
  });

  it('a new relay address moves the live stream there', async () => {
    await configure();
    bg.main();
    await eventually(() => relay.openStreams === 1, 3000, 'the first stream');
    const other = await new RelayDouble().start();
    try {
      other.requests.push(makeRequest());
      await configure({ relayUrl: other.url, apiKey: other.apiKey });
      await eventually(() => other.openStreams === 1 && relay.openStreams === 0, 3000, 'the moved stream');
      await eventually(async () => (await badge()) === '1');
      // A different relay is a first sync: its pending request is not announced.
      expect(await shown()).toEqual([]);
    } finally {
      await fakeBrowser.runtime.onSuspend.trigger();
      await refresh();
      await other.close();
    }
  });
});
