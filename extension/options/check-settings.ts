import type { Settings } from '../lib/settings.js';
import { TEXT } from '../lib/texts.js';

/**
 * What the options page accepts as settings: lenient about how a relay address is typed,
 * strict about what is stored (only a normalised http(s) URL), with a message for each field
 * that cannot work. The popup and the background only read what was stored (lib/settings.ts).
 */

interface SettingsInput {
  relayUrl: string;
  apiKey: string;
  notifications: boolean;
}

type SettingsCheck =
  | { ok: true; settings: Settings }
  | { ok: false; errors: Partial<Record<'relayUrl' | 'apiKey', string>> };

type UrlCheck = { ok: true; url: string } | { ok: false; error: string };

/** Hosts that are reached over plain http when no scheme was typed: loopback, private, one-label names. */
function looksLocal(host: string): boolean {
  const h = host.toLowerCase();
  return (
    /^(localhost|\[::1\]|\[f[cd][0-9a-f]{2}:)/.test(h) ||
    /^127\./.test(h) ||
    /^10\./.test(h) ||
    /^192\.168\./.test(h) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(h) ||
    h.endsWith('.local') ||
    h.endsWith('.localhost') ||
    !h.includes('.')
  );
}

function diagnoseRelayUrl(input: string): UrlCheck {
  let text = input.trim();
  if (text === '') return { ok: false, error: TEXT.settingsErrors.relayUrlMissing };
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    // No scheme typed: http for what is local (or names a port other than 443), https otherwise.
    const authority = /^[^/?#]*/.exec(text)?.[0] ?? '';
    const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
    const port = /:(\d+)$/.exec(hostPort)?.[1];
    const host = port === undefined ? hostPort : hostPort.slice(0, -port.length - 1);
    const plain = looksLocal(host) || (port !== undefined && port !== '443');
    text = `${plain ? 'http' : 'https'}://${text}`;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, error: TEXT.settingsErrors.relayUrlInvalid };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, error: TEXT.settingsErrors.relayUrlScheme(url.protocol.replace(/:$/, '')) };
  }
  if (url.hostname === '') return { ok: false, error: TEXT.settingsErrors.relayUrlInvalid };
  if (url.username || url.password) return { ok: false, error: TEXT.settingsErrors.relayUrlCredentials };
  if (url.search || url.hash || text.endsWith('?') || text.endsWith('#')) {
    return { ok: false, error: TEXT.settingsErrors.relayUrlExtra };
  }
  return { ok: true, url: `${url.origin}${url.pathname.replace(/\/+$/, '')}` };
}

/**
 * Accepts `localhost:8787`, `127.0.0.1:8787/`, `relay.example.com`, `https://relay.example.com/` …
 * and returns one spelling (scheme, host, port if not the default, path without a trailing
 * slash), or null when it cannot be a relay address.
 */
export function normaliseRelayUrl(input: string): string | null {
  const check = diagnoseRelayUrl(input);
  return check.ok ? check.url : null;
}

export function checkSettings(input: SettingsInput): SettingsCheck {
  const errors: Partial<Record<'relayUrl' | 'apiKey', string>> = {};
  const url = diagnoseRelayUrl(input.relayUrl);
  if (!url.ok) errors.relayUrl = url.error;
  const apiKey = input.apiKey.trim();
  if (apiKey === '') errors.apiKey = TEXT.settingsErrors.apiKeyMissing;
  else if (/\s/.test(apiKey)) errors.apiKey = TEXT.settingsErrors.apiKeySpaces;
  if (!url.ok || Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, settings: { relayUrl: url.url, apiKey, notifications: input.notifications } };
}
