import { browser } from 'wxt/browser';
import { defineBackground } from 'wxt/utils/define-background';
import { ensureRefreshAlarm, REFRESH_ALARM } from '../background/alarm.js';
import { openAutoNotice } from '../background/auto-notice.js';
import { createLiveEvents, debounce } from '../background/live.js';
import { isRefreshMessage, type RefreshedReply } from '../background/messages.js';
import { notificationClosed, openNotification } from '../background/notifications.js';
import { refresh } from '../background/sync.js';
import { loadSettings, settingsItem } from '../lib/settings.js';

/**
 * The background keeps the badge current and announces new requests. Every listener is added
 * synchronously in main() so a woken MV3 service worker sees the event that woke it. Refreshes
 * happen on the periodic alarm, on install/startup, when the settings change, when the computer
 * comes back online, on live events from the relay (debounced) and on `{type:'refresh'}` from
 * the popup. The logic lives in background/ (what only the background does) and lib/.
 */
export default defineBackground(() => {
  const soon = debounce(() => void refresh(), 300);
  const live = createLiveEvents({ onEvent: () => soon.schedule(), onProblem: () => soon.schedule() });
  let liveFor: string | undefined;

  /** (Re)starts the live stream when the relay or key changed, or when it is not running. */
  const startLive = async (force = false): Promise<void> => {
    const settings = await loadSettings().catch(() => null);
    const key = settings ? `${settings.relayUrl}\n${settings.apiKey}` : '';
    if (!force && key === liveFor && (live.active || settings === null)) return;
    liveFor = key;
    live.restart(settings);
  };

  browser.runtime.onInstalled.addListener(async ({ reason }) => {
    await ensureRefreshAlarm();
    if (reason === 'install' && (await loadSettings().catch(() => null)) === null) {
      // Nothing works before the relay is known: show the options page (as notifier-for-github does).
      try {
        await browser.runtime.openOptionsPage();
      } catch {
        // no options page available here
      }
    }
    await refresh();
  });
  browser.runtime.onStartup.addListener(async () => {
    await ensureRefreshAlarm();
    await refresh();
  });
  browser.alarms.onAlarm.addListener(async (alarm) => {
    if (alarm.name !== REFRESH_ALARM) return;
    void startLive();
    await refresh();
  });

  browser.notifications.onClicked.addListener(async (id) => {
    if ((await openNotification(id)) || (await openAutoNotice(id))) await refresh();
  });
  browser.notifications.onClosed.addListener((id) => notificationClosed(id));

  browser.runtime.onMessage.addListener((message: unknown, _sender: unknown, sendResponse?: (reply: RefreshedReply) => void) => {
    if (!isRefreshMessage(message)) return undefined;
    const done = refresh().then((snapshot): RefreshedReply => ({ type: 'refreshed', snapshot }));
    if (typeof sendResponse !== 'function') return done;
    void done.then(sendResponse);
    return true; // Chrome: the answer comes asynchronously
  });

  settingsItem.watch(() => {
    void startLive();
    void refresh();
  });

  if (typeof globalThis.addEventListener === 'function') {
    globalThis.addEventListener('online', () => {
      void startLive(true);
      void refresh();
    });
    globalThis.addEventListener('offline', () => void refresh());
  }
  browser.runtime.onSuspend?.addListener(() => {
    soon.cancel();
    live.stop();
  });

  // Every wake: make sure the alarm exists (it survives restarts, but not every browser update),
  // and follow the relay's live events while this worker lives.
  void ensureRefreshAlarm();
  void startLive();
});
