import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { settingsItem } from '../../../extension/lib/settings';
import { refresh, syncSnapshotItem } from '../../../extension/background/sync';
import { BACKGROUND_TEXT, PROBLEM_TEXTS } from '../../../extension/lib/texts';
import { freshBrowserAndRelay } from '../helpers/fresh';
import { DOUBLE_KEY, makeRequest, type RelayDouble } from '../helpers/relay-double';

let relay: RelayDouble;

beforeEach(async () => {
  relay = await freshBrowserAndRelay();
});

afterEach(async () => {
  await relay.close();
});

describe('refresh', () => {
  it('not configured: says so, asks nobody', async () => {
    const snapshot = await refresh();
    expect(snapshot).toMatchObject({ problem: 'not_configured', summary: null, pendingIds: [] });
    expect(await fakeBrowser.action.getBadgeText({})).toBe(PROBLEM_TEXTS.not_configured.badge);
    expect(relay.calls).toEqual([]);
  });

  it('reads every pending request, across pages', async () => {
    const many = Array.from({ length: 230 }, () => makeRequest());
    relay.requests.push(...many);
    await settingsItem.setValue({ relayUrl: relay.url, apiKey: DOUBLE_KEY, notifications: true });
    const snapshot = await refresh();
    expect(snapshot.pendingIds).toHaveLength(230);
    expect(await fakeBrowser.action.getBadgeText({})).toBe('230');
    expect(relay.calls.filter((c) => c.path === '/api/v1/requests')).toHaveLength(2);
    expect(await syncSnapshotItem.getValue()).toEqual(snapshot);
  });

  it('never overlaps: a burst of calls is the running refresh plus one more', async () => {
    await settingsItem.setValue({ relayUrl: relay.url, apiKey: DOUBLE_KEY, notifications: true });
    const results = await Promise.all([refresh(), refresh(), refresh(), refresh(), refresh()]);
    expect(relay.calls.filter((c) => c.path === '/api/v1/summary')).toHaveLength(2);
    expect(results[1]).toBe(results[4]);
    expect(results.every((r) => r.problem === null)).toBe(true);
  });
});

describe('refresh with auto-connect', () => {
  const now = () => new Date().toISOString();
  const notFound = { result: 'not_found' as const, note: 'no member has this loyalty number', at: '2025-01-01T12:00:00.000Z' };
  const autoReply = { status: 'CRSUC' as const, state: 'exchanging' as const, attempts: 0, lastError: null, updatedAt: now(), requestedBy: 'auto' };
  const shown = async () => Object.values((await fakeBrowser.notifications.getAll()) as Record<string, { title?: string }>).map((n) => n.title);

  it('the badge counts what waits for a person; the tooltip names what the relay is connecting', async () => {
    relay.autoConnect = { policy: 'connect', directory: true };
    relay.requests.push(
      makeRequest({ match: notFound }),
      makeRequest({ match: { ...notFound, result: 'member' }, reply: autoReply }),
      makeRequest({ firstSeenAt: now() }), // the directory has yet to answer
      makeRequest(), // appeared long ago, still no answer: the relay records one for every request it asks about
      makeRequest({ match: { ...notFound, result: 'unknown', note: 'timeout after 5 s' } }),
    );
    await settingsItem.setValue({ relayUrl: relay.url, apiKey: DOUBLE_KEY, notifications: true });
    const snapshot = await refresh();
    expect(snapshot.waiting).toBe(2);
    expect(snapshot.summary?.counts.pending).toBe(5);
    expect(snapshot.summary?.autoConnect).toEqual({ policy: 'connect', directory: true });
    expect(await fakeBrowser.action.getBadgeText({})).toBe('2');
    expect(await fakeBrowser.action.getTitle({})).toBe(BACKGROUND_TEXT.badgeTitle(2, 3));
  });

  it('on a relay that asks a directory, announces a new request only once the directory leaves it to a person', async () => {
    relay.autoConnect = { policy: 'connect', directory: true };
    await settingsItem.setValue({ relayUrl: relay.url, apiKey: DOUBLE_KEY, notifications: true });
    // Nothing pending, nothing ever seen of a directory in the lists: the summary alone says so.
    await refresh();
    const fresh = makeRequest({ firstName: 'Grace', lastName: 'Hopper', firstSeenAt: now() });
    await relay.add(fresh);
    await refresh();
    expect(await fakeBrowser.action.getBadgeText({})).toBe('');
    expect(await shown()).toEqual([]);

    relay.requests[0] = { ...fresh, match: notFound };
    await refresh();
    expect(await fakeBrowser.action.getBadgeText({})).toBe('1');
    expect(await shown()).toEqual([BACKGROUND_TEXT.notification.oneTitle('Grace Hopper')]);
  });

  it('on a relay without a directory, a new request is counted and announced at once, whatever the list shows', async () => {
    // Answers and an auto reply from an earlier configuration: no sign of anything now.
    relay.requests.push(makeRequest({ match: notFound }), makeRequest({ match: { ...notFound, result: 'member' }, reply: autoReply }));
    await settingsItem.setValue({ relayUrl: relay.url, apiKey: DOUBLE_KEY, notifications: true });
    await refresh();
    await relay.add(makeRequest({ firstName: 'Ada', lastName: 'Byron', firstSeenAt: now() }));
    await refresh();
    expect(await fakeBrowser.action.getBadgeText({})).toBe('2');
    expect(await shown()).toEqual([BACKGROUND_TEXT.notification.oneTitle('Ada Byron')]);
  });

  it('follows the relay when it stops asking a directory: what waited for the directory is a person’s at the next refresh', async () => {
    relay.autoConnect = { policy: 'connect', directory: true };
    relay.requests.push(makeRequest({ firstSeenAt: now() }));
    await settingsItem.setValue({ relayUrl: relay.url, apiKey: DOUBLE_KEY, notifications: true });
    await refresh();
    expect(await fakeBrowser.action.getBadgeText({})).toBe('');
    relay.autoConnect = { policy: 'off', directory: false };
    await refresh();
    expect(await fakeBrowser.action.getBadgeText({})).toBe('1');
  });
});
