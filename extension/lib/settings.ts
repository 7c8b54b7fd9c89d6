import { storage } from 'wxt/utils/storage';
import * as z from 'zod/mini';
import { Me } from '../../shared/people.js';

/**
 * The extension's settings: where the relay is, the key it accepts, and whether to notify.
 * Only a normalised http(s) URL is stored: the options page checks what is typed
 * (options/check-settings.ts) before it saves.
 *
 * `me` is who the key belongs to and its role, as the relay said when the options page last
 * tested exactly this address and key (absent: never asked, or a relay without `/me`). It is kept
 * here, in the same record as the key, so it can never describe another key; the popup reads the
 * role from it to know whether to offer replies.
 */

export const Settings = z.object({
  relayUrl: z.string(),
  apiKey: z.string(),
  notifications: z.boolean(),
  // One that no longer reads (a role this version does not know) is dropped, not the settings.
  me: z.catch(z.optional(Me), undefined),
});
export type Settings = z.infer<typeof Settings>;

const DEFAULT_SETTINGS: Settings = { relayUrl: '', apiKey: '', notifications: true };

export const settingsItem = storage.defineItem<Settings>('local:settings', {
  fallback: DEFAULT_SETTINGS,
  version: 1,
});

/**
 * The settings a stored value stands for if they are complete enough to talk to a relay, else
 * null (the "not configured" state). Nothing stored counts as the defaults, as the storage item
 * falls back to them. The popup's boot reads the value itself (popup/boot.ts) and comes here.
 */
export function settingsFrom(stored: unknown): Settings | null {
  const parsed = Settings.safeParse(stored ?? DEFAULT_SETTINGS);
  if (!parsed.success || parsed.data.relayUrl === '' || parsed.data.apiKey === '') return null;
  return parsed.data;
}

/** Whether two answers of `/me` (or their absence) say the same. */
export const sameMe = (a: Me | null | undefined, b: Me | null | undefined): boolean =>
  (a ?? null) === (b ?? null) || (a?.name === b?.name && a?.role === b?.role && a?.prefix === b?.prefix);

/** The stored settings, if complete enough to talk to a relay (settingsFrom), else null. */
export async function loadSettings(): Promise<Settings | null> {
  return settingsFrom(await settingsItem.getValue());
}
