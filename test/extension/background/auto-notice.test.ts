import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import type { Connection } from '../../../shared/connections';
import {
  AUTO_NOTICE_EVERY_MS,
  AUTO_NOTICE_ID,
  autoNoticeItem,
  notifyAutoConnected,
  openAutoNotice,
} from '../../../extension/background/auto-notice';
import { createRelayClient } from '../../../extension/lib/relay-client';
import { BACKGROUND_TEXT } from '../../../extension/lib/texts';
import { freshBrowserAndRelay } from '../helpers/fresh';
import { connection, request } from '../helpers/popup-fixtures';
import { DOUBLE_KEY, type RelayDouble } from '../helpers/relay-double';

let relay: RelayDouble;
const T0 = Date.parse('2026-01-01T09:00:00.000Z');
let serial = 0;

/** A connection made at `at` (ms) by `by`, as the relay lists it. */
function made(by: string, at: number): Connection {
  serial += 1;
  return connection(request({ id: `req-auto-${serial}`, status: 'CRSUC' }), { id: `con-${serial}`, connectedBy: by, connectedAt: new Date(at).toISOString() });
}

/** The relay makes these connections (its list stays newest first). */
function relayMakes(...connections: Connection[]): void {
  relay.connections = [...connections, ...(relay.connections ?? [])].sort((a, b) => Date.parse(b.connectedAt) - Date.parse(a.connectedAt));
}

const settings = () => ({ relayUrl: relay.url, notifications: true });
/** One refresh's look at the relay, at `now` on the test's clock. */
const tick = (now: number) => {
  const client = createRelayClient({ relayUrl: relay.url, apiKey: DOUBLE_KEY });
  return notifyAutoConnected((since, max) => client.connectionsSince(since, max), settings(), now);
};
const shown = async () => (await fakeBrowser.notifications.getAll()) as Record<string, { title?: string; message?: string }>;

beforeEach(async () => {
  relay = await freshBrowserAndRelay();
  relay.connections = [];
});
afterEach(async () => {
  await relay.close();
});

describe('one line for what auto-connect connected', () => {
  it('the first look only marks where counting starts: earlier connections are not news', async () => {
    relayMakes(made('auto', T0 - 5 * 60_000), made('auto', T0 - 60_000));
    expect(await tick(T0)).toEqual({ counted: 0, shown: null });
    expect(await shown()).toEqual({});
  });

  it('counts only auto connections since the last look, says "N members connected automatically", and never counts one twice', async () => {
    relayMakes(made('auto', T0 - 60_000));
    await tick(T0);
    relayMakes(made('auto', T0 + 1_000), made('auto', T0 + 2_000), made('Alice', T0 + 2_500), made('auto', T0 + 3_000));
    const result = await tick(T0 + 4_000);
    expect(result).toEqual({ counted: 3, shown: '3 members connected automatically' });
    expect((await shown())[AUTO_NOTICE_ID]).toMatchObject({
      title: BACKGROUND_TEXT.notification.autoTitle(3),
      message: BACKGROUND_TEXT.notification.autoMessage,
    });
    expect(await tick(T0 + 2 * AUTO_NOTICE_EVERY_MS)).toEqual({ counted: 0, shown: null });
  });

  it('at most once a minute: what comes in between is added to the next line', async () => {
    await tick(T0);
    relayMakes(made('auto', T0 + 1_000));
    expect((await tick(T0 + 2_000)).shown).toBe('1 member connected automatically');

    relayMakes(made('auto', T0 + 10_000), made('auto', T0 + 20_000));
    expect(await tick(T0 + 30_000)).toEqual({ counted: 2, shown: null });
    relayMakes(made('auto', T0 + 40_000));
    expect(await tick(T0 + 2_000 + AUTO_NOTICE_EVERY_MS - 1)).toEqual({ counted: 1, shown: null });
    // A minute after the last line: the three in between, on one line that replaces the last.
    expect(await tick(T0 + 2_000 + AUTO_NOTICE_EVERY_MS)).toEqual({ counted: 0, shown: '3 members connected automatically' });
    expect(Object.keys(await shown())).toEqual([AUTO_NOTICE_ID]);
  });

  it('connections made in the same millisecond as the last counted one are each counted once', async () => {
    await tick(T0);
    relayMakes(made('auto', T0 + 1_000));
    expect((await tick(T0 + 1_500)).counted).toBe(1);
    relayMakes(made('auto', T0 + 1_000));
    expect((await tick(T0 + 2_000)).counted).toBe(1);
    expect((await tick(T0 + 2_500)).counted).toBe(0);
  });

  it('reads back only as far as the last counted connection, across pages', async () => {
    await tick(T0);
    relayMakes(...Array.from({ length: 450 }, (_, i) => made('auto', T0 + 1_000 + i)));
    relay.calls.length = 0;
    expect((await tick(T0 + 5_000)).counted).toBe(450);
    expect(relay.calls.filter((c) => c.path === '/api/v1/connections')).toHaveLength(3);
    relay.calls.length = 0;
    await tick(T0 + 6_000);
    expect(relay.calls.filter((c) => c.path === '/api/v1/connections')).toHaveLength(1);
  });

  it('with notifications off nothing is counted or shown, and switching them on starts afresh', async () => {
    await tick(T0);
    relayMakes(made('auto', T0 + 1_000));
    const off = await notifyAutoConnected(async () => relay.connections, { relayUrl: relay.url, notifications: false }, T0 + 2_000);
    expect(off).toEqual({ counted: 0, shown: null });
    expect(await autoNoticeItem.getValue()).toBeNull();
    expect(await tick(T0 + 3_000)).toEqual({ counted: 0, shown: null });
    expect(await shown()).toEqual({});
  });

  it('a relay without the connections route shows nothing and keeps no state', async () => {
    relay.connections = null;
    expect(await tick(T0)).toEqual({ counted: 0, shown: null });
    expect(await autoNoticeItem.getValue()).toBeNull();
  });

  it('a click opens the Connected tab and clears the line; other ids are not its business', async () => {
    await tick(T0);
    relayMakes(made('auto', T0 + 1_000));
    await tick(T0 + 2_000);
    expect(await openAutoNotice('triplink:req-1')).toBe(false);
    expect(await openAutoNotice(AUTO_NOTICE_ID)).toBe(true);
    const tabs = await fakeBrowser.tabs.query({});
    expect(tabs.some((t) => t.url?.endsWith('/popup.html#group=connected'))).toBe(true);
    expect(await shown()).toEqual({});
  });
});
