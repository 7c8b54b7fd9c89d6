import { browser } from 'wxt/browser';
import { storage } from 'wxt/utils/storage';
import type { Connection } from '../../shared/connections.js';
import { AUTO_CONNECT } from '../lib/attention.js';
import type { Settings } from '../lib/settings.js';
import { BACKGROUND_TEXT } from '../lib/texts.js';

/**
 * One quiet line for what auto-connect did: "3 members connected automatically". Nobody has to
 * act on those requests, so each gets no notification of its own (notifications.ts announces only
 * what waits for a person); the line says the relay is at work, at most once a minute, counting
 * what was connected in between.
 *
 * What counts: the relay's connections made by `auto` (`connectedBy`, DESIGN.md), read newest
 * first down to the newest one already counted. The store is the only state, so this is read
 * from it at each refresh rather than pieced together from live events, which a sleeping
 * service worker misses. The first refresh for a relay (or after notifications are switched on)
 * only marks where counting starts: what was connected before is not news.
 */

export const AUTO_NOTICE_EVERY_MS = 60_000;

/** One id, so a newer line replaces the one still showing instead of stacking up. */
export const AUTO_NOTICE_ID = 'triplink-auto:connected';

interface AutoNoticeState {
  relayUrl: string;
  /** connectedAt of the newest connection counted; null: the relay had none. */
  since: string | null;
  /** The connections at exactly `since` already counted (several can share a millisecond). */
  atSince: string[];
  /** Auto connections counted and not announced yet (the last line was under a minute ago). */
  unannounced: number;
  /** When the last line was shown (ms), or null. */
  shownAt: number | null;
}

export const autoNoticeItem = storage.defineItem<AutoNoticeState | null>('local:autoNotice', { fallback: null });

/** `GET /api/v1/connections` from `since` on (RelayClient.connectionsSince): null when the relay has no such route. */
type ConnectionsSince = (since: string | null, max?: number) => Promise<Connection[] | null>;

interface AutoNoticeResult {
  /** Auto connections newly counted in this refresh. */
  counted: number;
  /** The line shown now ("3 members connected automatically"), or null. */
  shown: string | null;
}

const NOTHING: AutoNoticeResult = { counted: 0, shown: null };

/** Call after each successful refresh. `now` is the clock (ms), for the once-a-minute rule. */
export async function notifyAutoConnected(
  connectionsSince: ConnectionsSince,
  settings: Pick<Settings, 'relayUrl' | 'notifications'>,
  now: number = Date.now(),
): Promise<AutoNoticeResult> {
  if (!settings.notifications) {
    // Switched on later, counting starts afresh: nothing connected meanwhile is announced.
    await autoNoticeItem.setValue(null);
    return NOTHING;
  }
  const state = await autoNoticeItem.getValue();
  const known = state !== null && state.relayUrl === settings.relayUrl ? state : null;
  // The first look needs the newest connection only (one page); later ones all since the last.
  const listed = await connectionsSince(known?.since ?? null, known === null ? 1 : undefined);
  if (listed === null) return NOTHING;

  const fresh =
    known === null
      ? []
      : listed.filter((c) => known.since === null || c.connectedAt !== known.since || !known.atSince.includes(c.id));
  const counted = fresh.filter((c) => c.connectedBy === AUTO_CONNECT).length;

  let since = known?.since ?? null;
  let atSince = known?.atSince ?? [];
  for (const c of listed) {
    if (since === null || Date.parse(c.connectedAt) > Date.parse(since)) {
      since = c.connectedAt;
      atSince = [];
    }
    if (c.connectedAt === since && !atSince.includes(c.id)) atSince = [...atSince, c.id];
  }

  let unannounced = (known?.unannounced ?? 0) + counted;
  let shownAt = known?.shownAt ?? null;
  let shown: string | null = null;
  if (unannounced > 0 && (shownAt === null || now - shownAt >= AUTO_NOTICE_EVERY_MS)) {
    shown = BACKGROUND_TEXT.notification.autoTitle(unannounced);
    unannounced = 0;
    shownAt = now;
  }
  // Remembered before it is shown: a worker that dies in between misses a line rather than repeating it.
  await autoNoticeItem.setValue({ relayUrl: settings.relayUrl, since, atSince, unannounced, shownAt });
  if (shown !== null) {
    try {
      await browser.notifications.create(AUTO_NOTICE_ID, {
        type: 'basic',
        iconUrl: browser.runtime.getURL('/icon/128.png'),
        title: shown,
        message: BACKGROUND_TEXT.notification.autoMessage,
      });
    } catch {
      shown = null;
    }
  }
  return { counted, shown };
}

/** A click on the line: the Connected tab in a tab of the extension's view. False when the id is not this one. */
export async function openAutoNotice(notificationId: string): Promise<boolean> {
  if (notificationId !== AUTO_NOTICE_ID) return false;
  await browser.tabs.create({ url: `${browser.runtime.getURL('/popup.html')}#group=connected`, active: true });
  try {
    await browser.notifications.clear(notificationId);
  } catch {
    // already gone
  }
  return true;
}
