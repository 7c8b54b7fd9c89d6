import { browser } from 'wxt/browser';
import type { Prefetcher } from './boot.js';
import type { PopupDeps } from './controller.js';
import { followEvents, type FollowEvents } from './live.js';
import { createRelayClient } from '../lib/relay-client.js';
import { loadSettings, settingsFrom, settingsItem } from '../lib/settings.js';

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
  // Checked here against the popup's narrow signature: lib/sse-client.ts may offer more, never less.
  followEvents: followEvents satisfies FollowEvents,
  openOptions: () => ignoreErrors(() => browser.runtime.openOptionsPage()),
  // Nobody may be listening (the background is asleep or not there): that is fine.
  notifyBackground: () => ignoreErrors(() => browser.runtime.sendMessage({ type: 'refresh' })),
  now: () => Date.now(),
  newKey: () => crypto.randomUUID(),
  refreshMs: 30_000,
};

/**
 * The real world, with what the popup entry started early (boot.ts): the first settings
 * are the ones it read (no second storage read), and the relay is reached through its fetch.
 */
export function popupDepsWith(prefetcher: Prefetcher): PopupDeps {
  let first: Promise<unknown> | undefined = prefetcher.settings;
  return {
    ...realPopupDeps,
    loadSettings: () => {
      const boot = first;
      first = undefined;
      return boot === undefined ? loadSettings() : boot.then(settingsFrom, () => loadSettings());
    },
    createClient: (settings) => createRelayClient(settings, prefetcher.fetch),
    followEvents: (settings, options) => followEvents(settings, { ...options, fetch: prefetcher.fetch }),
    firstLoadSettled: () => prefetcher.drop(),
  };
}
