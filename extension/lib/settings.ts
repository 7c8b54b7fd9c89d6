import { storage } from 'wxt/utils/storage';
import { z } from 'zod';

/**
 * The extension's settings: where the relay is, the key it accepts, and whether to notify.
 * Lenient about how a URL is typed, strict about what is stored: only a normalised http(s) URL.
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

export interface SettingsInput {
  relayUrl: string;
  apiKey: string;
  notifications: boolean;
}

export type SettingsCheck =
  | { ok: true; settings: Settings }
  | { ok: false; errors: Partial<Record<'relayUrl' | 'apiKey', string>> };

/** Accepts `localhost:8787`, `127.0.0.1:8787/`, `https://relay.example.com` … and stores one spelling. */
export function normaliseRelayUrl(input: string): string | null {
  let text = input.trim();
  if (text === '') return null;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    const local = /^(localhost|127\.|\[::1\])/i.test(text);
    text = `${local ? 'http' : 'https'}://${text}`;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.username || url.password || url.search || url.hash) return null;
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

export function checkSettings(input: SettingsInput): SettingsCheck {
  const errors: Partial<Record<'relayUrl' | 'apiKey', string>> = {};
  const relayUrl = normaliseRelayUrl(input.relayUrl);
  if (input.relayUrl.trim() === '') errors.relayUrl = 'Enter the relay’s address, e.g. http://127.0.0.1:8787';
  else if (relayUrl === null) errors.relayUrl = 'That is not a web address. Try e.g. http://127.0.0.1:8787 or https://relay.example.com';
  const apiKey = input.apiKey.trim();
  if (apiKey === '') errors.apiKey = 'Enter the API key the relay printed (or one of RELAY_API_KEYS)';
  else if (/\s/.test(apiKey)) errors.apiKey = 'An API key has no spaces in it; check what was pasted';
  if (relayUrl === null || Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, settings: { relayUrl, apiKey, notifications: input.notifications } };
}

/** The settings if they are complete enough to talk to a relay, else null (the "not configured" state). */
export async function loadSettings(): Promise<Settings | null> {
  const parsed = Settings.safeParse(await settingsItem.getValue());
  if (!parsed.success || parsed.data.relayUrl === '' || parsed.data.apiKey === '') return null;
  return parsed.data;
}
