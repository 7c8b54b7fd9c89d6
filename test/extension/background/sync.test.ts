import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { settingsItem } from '../../../extension/lib/settings';
import { refresh, syncSnapshotItem } from '../../../extension/background/sync';
import { PROBLEM_TEXTS } from '../../../extension/lib/texts';
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
