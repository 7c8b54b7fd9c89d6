import { z } from 'zod';
import { readXml } from './xml-read.js';

/**
 * What Concur answers when a partner turns a request token (or a refresh token) into a
 * traveller's own tokens, in both forms Concur has used, reduced to one shape:
 *
 * - legacy (v3.0): `<Access_Token><Instance_Url/><Token/><Expiration_date>3/30/2013 2:19:10 PM
 *   </Expiration_date><Refresh_Token/></Access_Token>`, or the same as JSON under `Access_Token`;
 *   element names are cased differently across Concur's own pages, so they are read in any case.
 *   Concur may answer an error with HTTP 200 and an `<Error>` body.
 * - OAuth 2.0: `{access_token, refresh_token, expires_in, refresh_expires_in, id_token, geolocation}`;
 *   `expires_in` is a string on one page and a number on another.
 */

export interface UserTokens {
  accessToken: string;
  refreshToken: string;
  /** Where the traveller's later calls go: the legacy Instance_Url, or the OAuth 2.0 geolocation. */
  instanceUrl: string;
  accessTokenExpiresAt: string;
  /** null: Concur gave none (legacy refresh tokens do not expire). */
  refreshTokenExpiresAt: string | null;
  /** OAuth 2.0: the host refreshes go to (Concur asks partners to store it); null for the legacy form. */
  geolocation: string | null;
}

/** A body Concur sent that says it refused (legacy `<Error>` or OAuth 2.0 `{error, code}`), for the caller to judge. */
export interface ConcurRefusal {
  message: string;
  code: number | null;
}

export type TokenAnswer = { kind: 'tokens'; tokens: UserTokens } | { kind: 'refused'; refusal: ConcurRefusal } | { kind: 'unreadable'; why: string };

const MAX_TOKEN = 4096;
const text = z.string().trim().min(1).max(MAX_TOKEN);
const url = z.url({ protocol: /^https?$/ }).max(2048);

const OAuthTokens = z.object({
  access_token: text,
  refresh_token: text,
  expires_in: z.coerce.number().positive().max(10 * 365 * 24 * 3600),
  /** Epoch seconds (apidoc's "Enterprise" section). */
  refresh_expires_in: z.coerce.number().positive().optional(),
  geolocation: url,
});

const OAuthError = z.object({
  error: z.string().max(200).optional(),
  error_description: z.string().max(500).optional(),
  code: z.coerce.number().int().optional(),
});

/** The legacy `M/D/YYYY h:mm:ss AM|PM`, in UTC, as ISO-8601; undefined when it is not that. */
export function fromLegacyDate(value: string): string | undefined {
  const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2}):(\d{2}) ([AP]M)$/i.exec(value.trim());
  if (m === null) return undefined;
  const [, month, day, year, hour, minute, second, half] = m;
  const h = (Number(hour) % 12) + (half!.toUpperCase() === 'PM' ? 12 : 0);
  const ms = Date.UTC(Number(year), Number(month) - 1, Number(day), h, Number(minute), Number(second));
  const date = new Date(ms);
  // 2/30 rolls over to March in Date.UTC: a date that does not exist is no date.
  if (date.getUTCDate() !== Number(day) || date.getUTCMonth() !== Number(month) - 1) return undefined;
  return date.toISOString();
}

/** Lower-cased keys, one level: Concur's legacy names come as Instance_Url, Instance_URL, Expiration_Date… */
function lowerKeys(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key.toLowerCase(), v]));
}

/** The roots of an XML answer as objects of their children's texts (trimmed), keyed by lower-case local name. */
function xmlObject(body: string): Record<string, unknown> {
  return Object.fromEntries(
    readXml(body).map((root) => [root.key, Object.fromEntries(root.children.map((child) => [child.key, child.text.trim()]))]),
  );
}

function parseLegacy(body: string, contentType: string | null): Record<string, unknown> | undefined {
  const trimmed = body.trim();
  if (trimmed.startsWith('{') || contentType?.includes('json')) {
    try {
      return lowerKeys(JSON.parse(trimmed));
    } catch {
      return undefined;
    }
  }
  // A DTD is never part of Concur's answer, and it is how entity expansion attacks start.
  if (/<!DOCTYPE/i.test(trimmed)) return undefined;
  try {
    return xmlObject(trimmed);
  } catch {
    return undefined;
  }
}

/**
 * A legacy exchange or refresh answer. `heldRefreshToken`: a refresh's own token, which the answer
 * may leave out (the pre-2017 table of the refresh answer has no Refresh_Token; legacy refresh
 * tokens never change, so the one held stays the one to use).
 */
export function readLegacyAnswer(body: string, contentType: string | null, heldRefreshToken?: string): TokenAnswer {
  const root = parseLegacy(body, contentType);
  if (root === undefined) return { kind: 'unreadable', why: 'the answer is neither the XML nor the JSON Concur sends' };
  if ('error' in root) {
    const error = lowerKeys(root.error);
    return { kind: 'refused', refusal: { message: String(error.message ?? 'an error without a message').slice(0, 500), code: null } };
  }
  const access = lowerKeys(root.access_token);
  const token = text.safeParse(access.token);
  const refresh = text.safeParse(access.refresh_token ?? heldRefreshToken);
  const instance = url.safeParse(access.instance_url);
  const expires = typeof access.expiration_date === 'string' ? fromLegacyDate(access.expiration_date) : undefined;
  if (!token.success || !refresh.success || !instance.success || expires === undefined) {
    return { kind: 'unreadable', why: 'the Access_Token answer lacks its Token, Refresh_Token, Instance_Url or Expiration_date' };
  }
  return {
    kind: 'tokens',
    tokens: {
      accessToken: token.data,
      refreshToken: refresh.data,
      instanceUrl: instance.data,
      accessTokenExpiresAt: expires,
      refreshTokenExpiresAt: null,
      geolocation: null,
    },
  };
}

/** An OAuth 2.0 token answer (password grant or refresh grant); `now` turns expires_in into a time. */
export function readOAuthAnswer(status: number, body: string, now: number): TokenAnswer {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { kind: 'unreadable', why: `the token endpoint answered ${status} with a body that is not JSON` };
  }
  if (status !== 200) {
    const error = OAuthError.safeParse(json);
    const said = error.success ? [error.data.error, error.data.error_description].filter(Boolean).join(': ') : '';
    return { kind: 'refused', refusal: { message: said || `HTTP ${status}`, code: error.success ? (error.data.code ?? null) : null } };
  }
  const parsed = OAuthTokens.safeParse(json);
  if (!parsed.success) return { kind: 'unreadable', why: `the token answer is not what Concur documents (${z.prettifyError(parsed.error).split('\n')[0]})` };
  const t = parsed.data;
  return {
    kind: 'tokens',
    tokens: {
      accessToken: t.access_token,
      refreshToken: t.refresh_token,
      instanceUrl: t.geolocation,
      accessTokenExpiresAt: new Date(now + t.expires_in * 1000).toISOString(),
      refreshTokenExpiresAt: t.refresh_expires_in === undefined ? null : new Date(t.refresh_expires_in * 1000).toISOString(),
      geolocation: t.geolocation,
    },
  };
}
