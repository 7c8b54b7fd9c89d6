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

export const DEFAULT_SETTINGS: Settings = { relayUrl: '', apiKey: '', notifications: true };

export const settingsItem = storage.defineItem<Settings>('local:settings', {
  fallback: DEFAULT_SETTINGS,
  version: 1,
});

/** The settings if they are complete enough to talk to a relay, else null (the "not configured" state). */
export async function loadSettings(): Promise<Settings | null> {
  const parsed = Settings.safeParse(await settingsItem.getValue());
  if (!parsed.success || parsed.data.relayUrl === '' || parsed.data.apiKey === '') return null;
  return parsed.data;
}
