import { browser } from 'wxt/browser';
import { storage } from 'wxt/utils/storage';
import type { ConnectionRequest } from '../../shared/models.js';
import type { Settings } from '../lib/settings.js';
import { BACKGROUND_TEXT } from '../lib/texts.js';

/**
 * Desktop notifications for new pending requests.
 *
 * - One notification per request that newly appears in the pending list, never twice for the same
 *   request: the ids already seen are kept in `local:` storage, so a restarted service worker (or
 *   browser) does not announce them again. The set is bounded (NOTIFY_LIMITS.maxKnown): the
 *   currently pending ids are always kept, the oldest others are forgotten first.
 * - More than NOTIFY_LIMITS.groupAbove at once (one refresh): one summary notification instead.
 * - The first sync after (re)configuration — no relay known yet, or a different relay address —
 *   takes the requests already pending as known, silently: setting up never floods the desktop.
 *   Requests seen while notifications are switched off are taken as known too, so switching them
 *   on later announces only what arrives from then on.
 * - Notifications for requests that are no longer pending are cleared.
 * - Ids: `triplink:<requestId>` and `triplink:summary:<time>`. A click opens the request (or the
 *   pending group) in the extension's view and clears the notification.
 */

export const NOTIFY_LIMITS = {
  /** More new requests than this in one refresh: one summary notification. */
  groupAbove: 3,
  /** How many request ids are remembered as already seen. */
  maxKnown: 5000,
  /** Names listed in a summary notification. */
  summaryNames: 3,
} as const;

const NOTIFICATION_PREFIX = 'triplink:';
const SUMMARY_PREFIX = `${NOTIFICATION_PREFIX}summary:`;

interface NotifyState {
  /** The relay the known ids belong to; null before the first sync. */
  relayUrl: string | null;
  /** Request ids already seen pending (announced or taken as known), oldest first. */
  known: string[];
  /** Our notifications that may still be showing: notification id → the request ids it stands for. */
  open: Record<string, string[]>;
}

export const notifyStateItem = storage.defineItem<NotifyState>('local:notify', {
  fallback: { relayUrl: null, known: [], open: {} },
});

function requestNotificationId(requestId: string): string {
  return `${NOTIFICATION_PREFIX}${requestId}`;
}

/** The URL of the extension's view, focused on one request or on the pending group. */
function viewUrl(target: { request: string } | { group: 'pending' }): string {
  const base = browser.runtime.getURL('/popup.html');
  return 'request' in target ? `${base}#request=${encodeURIComponent(target.request)}` : `${base}#group=${target.group}`;
}

export function travellerName(request: Pick<ConnectionRequest, 'firstName' | 'middleName' | 'lastName'>): string {
  const name = [request.firstName, request.middleName, request.lastName]
    .map((part) => part?.trim() ?? '')
    .filter((part) => part !== '')
    .join(' ');
  return name === '' ? BACKGROUND_TEXT.notification.unnamed : name;
}

interface NotifyResult {
  /** The first sync for this relay: everything pending was taken as known. */
  firstSync: boolean;
  /** Requests newly seen in this refresh (announced or not). */
  fresh: string[];
  /** Notification ids created. */
  created: string[];
  /** Notification ids cleared because their requests are no longer pending. */
  cleared: string[];
}

function iconUrl(): string {
  return browser.runtime.getURL('/icon/128.png');
}

async function create(id: string, title: string, message: string): Promise<boolean> {
  try {
    await browser.notifications.create(id, { type: 'basic', iconUrl: iconUrl(), title, message });
    return true;
  } catch {
    return false;
  }
}

/** The ids of our notifications the browser still shows (falls back to what we recorded). */
async function shownIds(recorded: Record<string, string[]>): Promise<string[]> {
  try {
    const all = (await browser.notifications.getAll()) as Record<string, unknown>;
    const ids = new Set(Object.keys(all).filter((id) => id.startsWith(NOTIFICATION_PREFIX)));
    for (const id of Object.keys(recorded)) ids.add(id);
    return [...ids];
  } catch {
    return Object.keys(recorded);
  }
}

/**
 * Call after every successful refresh with the complete pending list. Announces what is new,
 * remembers it, and clears notifications whose requests are no longer pending.
 */
export async function notifyPending(
  pending: readonly ConnectionRequest[],
  settings: Pick<Settings, 'relayUrl' | 'notifications'>,
): Promise<NotifyResult> {
  const state = await notifyStateItem.getValue();
  const firstSync = state.relayUrl !== settings.relayUrl;
  const known = new Set(firstSync ? [] : state.known);
  const pendingIds = new Set(pending.map((request) => request.id));

  const freshRequests = pending
    .filter((request) => !known.has(request.id))
    .sort((a, b) => a.firstSeenAt.localeCompare(b.firstSeenAt) || a.id.localeCompare(b.id));
  const fresh = freshRequests.map((request) => request.id);

  // What to show: nothing on a first sync or with notifications off.
  const planned: Array<{ id: string; title: string; message: string; requestIds: string[] }> = [];
  if (!firstSync && settings.notifications && freshRequests.length > 0) {
    if (freshRequests.length > NOTIFY_LIMITS.groupAbove) {
      const names = freshRequests.slice(0, NOTIFY_LIMITS.summaryNames).map(travellerName);
      planned.push({
        id: `${SUMMARY_PREFIX}${Date.now()}`,
        title: BACKGROUND_TEXT.notification.manyTitle(freshRequests.length),
        message: BACKGROUND_TEXT.notification.manyMessage(names, freshRequests.length - names.length),
        requestIds: fresh,
      });
    } else {
      for (const request of freshRequests) {
        planned.push({
          id: requestNotificationId(request.id),
          title: BACKGROUND_TEXT.notification.oneTitle(travellerName(request)),
          message: BACKGROUND_TEXT.notification.oneMessage(request.loyaltyNumber),
          requestIds: [request.id],
        });
      }
    }
  }

  // Stale: notifications none of whose requests is still pending.
  const open: Record<string, string[]> = {};
  const stale: string[] = [];
  for (const id of await shownIds(firstSync ? {} : state.open)) {
    const requestIds = state.open[id] ?? (id.startsWith(SUMMARY_PREFIX) ? [] : [id.slice(NOTIFICATION_PREFIX.length)]);
    if (requestIds.some((requestId) => pendingIds.has(requestId))) open[id] = requestIds;
    else stale.push(id);
  }
  for (const notification of planned) open[notification.id] = notification.requestIds;

  // Remember before showing: a worker that dies in between misses a notification rather than
  // showing one twice.
  let nextKnown = [...(firstSync ? [] : state.known.filter((id) => !pendingIds.has(id))), ...pending.map((r) => r.id)];
  if (nextKnown.length > NOTIFY_LIMITS.maxKnown) nextKnown = nextKnown.slice(nextKnown.length - NOTIFY_LIMITS.maxKnown);
  await notifyStateItem.setValue({ relayUrl: settings.relayUrl, known: nextKnown, open });

  const created: string[] = [];
  for (const notification of planned) {
    if (await create(notification.id, notification.title, notification.message)) created.push(notification.id);
  }
  const cleared: string[] = [];
  for (const id of stale) {
    try {
      if (await browser.notifications.clear(id)) cleared.push(id);
    } catch {
      // already gone
    }
  }
  return { firstSync, fresh, created, cleared };
}

async function forget(notificationId: string): Promise<void> {
  const state = await notifyStateItem.getValue();
  if (!(notificationId in state.open)) return;
  const open = { ...state.open };
  delete open[notificationId];
  await notifyStateItem.setValue({ ...state, open });
}

/**
 * A click on one of our notifications: opens the request (or the pending group) in a tab of the
 * extension's view, focuses its window, and clears the notification. False when the id is not ours.
 */
export async function openNotification(notificationId: string): Promise<boolean> {
  if (!notificationId.startsWith(NOTIFICATION_PREFIX)) return false;
  const url = notificationId.startsWith(SUMMARY_PREFIX)
    ? viewUrl({ group: 'pending' })
    : viewUrl({ request: notificationId.slice(NOTIFICATION_PREFIX.length) });
  const tab = await browser.tabs.create({ url, active: true });
  if (tab?.windowId !== undefined) {
    try {
      await browser.windows.update(tab.windowId, { focused: true });
    } catch {
      // no window to focus (or not supported): the tab is open anyway
    }
  }
  try {
    await browser.notifications.clear(notificationId);
  } catch {
    // already gone
  }
  await forget(notificationId);
  return true;
}

/** The user closed one of our notifications: stop tracking it. */
export async function notificationClosed(notificationId: string): Promise<void> {
  if (notificationId.startsWith(NOTIFICATION_PREFIX)) await forget(notificationId);
}
