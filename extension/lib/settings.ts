import { storage } from 'wxt/utils/storage';
import * as z from 'zod/mini';

/**
 * The extension's settings: where the relay is, the key it accepts, and whether to notify.
 * Only a normalised http(s) URL is stored: the options page checks what is typed
 * (options/check-settings.ts) before it saves.
 */

export const Settings = z.object({
  relayUrl: z.string(),
  apiKey: z.string(),
  notifications: z.boolean(),
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

/** The stored settings, if complete enough to talk to a relay (settingsFrom), else null. */
export async function loadSettings(): Promise<Settings | null> {
  return settingsFrom(await settingsItem.getValue());
}
