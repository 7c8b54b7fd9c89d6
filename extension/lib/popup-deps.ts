import { browser } from 'wxt/browser';
import type { PopupDeps } from './popup-data.js';
import { followEvents, type FollowEvents } from './popup-live.js';
import { createRelayClient } from './relay-client.js';
import { loadSettings, settingsItem } from './settings.js';

function ignoreErrors(call: () => Promise<unknown> | unknown): void {
  try {
    const result = call();
    if (result instanceof Promise) result.catch(() => undefined);
  } catch {
    // ignored on purpose
  }
}

/** The real world for the popup: extension storage, the relay, live events and the background. */
export const realPopupDeps: PopupDeps = {
  loadSettings,
  watchSettings: (onChange) => settingsItem.watch(() => onChange()),
  createClient: (settings) => createRelayClient(settings),
  // Checked here against the popup's narrow signature: events.ts may offer more, never less.
  followEvents: followEvents satisfies FollowEvents,
  openOptions: () => ignoreErrors(() => browser.runtime.openOptionsPage()),
  // Nobody may be listening (the background is asleep or not there): that is fine.
  notifyBackground: () => ignoreErrors(() => browser.runtime.sendMessage({ type: 'refresh' })),
  now: () => Date.now(),
  newKey: () => crypto.randomUUID(),
  refreshMs: 30_000,
};
