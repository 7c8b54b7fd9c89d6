import { createHash } from 'node:crypto';
import { ExchangeStatus } from '../../shared/connections.js';
import { AutoConnect } from '../../shared/match.js';
import { ConcurState } from '../../shared/models.js';
import type { Vault } from '../vault/vault.js';
import type { ConcurStatus } from './events.js';
import { placeOf, REFRESH_TOKEN } from './sealed-columns.js';

/**
 * What the relay state part does the same on either database (state.ts, postgres/state.ts): its
 * keys, and how their stored text reads and is written. No SQL runs here.
 */

export const KEY = {
  state: 'concur.state',
  lastPollAt: 'concur.lastPollAt',
  lastSuccessAt: 'concur.lastSuccessAt',
  lastError: 'concur.lastError',
  refreshToken: 'concur.refreshToken',
  exchange: 'exchange.status',
  autoConnect: 'autoConnect',
} as const;

/** What a database no relay has said anything about auto-connect in means: no directory, nothing sent by itself. */
const NO_AUTO_CONNECT: AutoConnect = { policy: 'off', directory: false };

export const STATUS_FIELDS = ['state', 'lastPollAt', 'lastSuccessAt', 'lastError'] as const;

function fingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Until the runtime has said otherwise: ok (it says so at every start, from the configuration). */
export function readExchangeStatus(raw: string | null): ExchangeStatus {
  if (raw !== null) {
    try {
      const parsed = ExchangeStatus.safeParse(JSON.parse(raw));
      if (parsed.success) return parsed.data;
    } catch {
      // unreadable: as if never said
    }
  }
  return { state: 'ok', reason: null };
}

/** Read like the exchange status: a value this relay cannot read counts as never said. */
export function readAutoConnect(raw: string | null): AutoConnect {
  if (raw !== null) {
    try {
      const parsed = AutoConnect.safeParse(JSON.parse(raw));
      if (parsed.success) return parsed.data;
    } catch {
      // unreadable: as if never said
    }
  }
  return NO_AUTO_CONNECT;
}

export function sameAutoConnect(a: AutoConnect, b: AutoConnect): boolean {
  return a.policy === b.policy && a.directory === b.directory;
}

/** The status from the stored value of each field's key (`get`). */
export function readConcurStatus(get: (key: string) => string | null): ConcurStatus {
  const state = ConcurState.safeParse(get(KEY.state));
  return {
    state: state.success ? state.data : 'unknown',
    lastPollAt: get(KEY.lastPollAt),
    lastSuccessAt: get(KEY.lastSuccessAt),
    lastError: get(KEY.lastError),
  };
}

/** `before` with the fields `patch` gives (undefined: unchanged). */
export function mergeConcurStatus(before: ConcurStatus, patch: Partial<ConcurStatus>): ConcurStatus {
  const status: ConcurStatus = { ...before };
  for (const field of STATUS_FIELDS) {
    const value = patch[field];
    if (value !== undefined) Object.assign(status, { [field]: value });
  }
  return status;
}

/**
 * The refresh token to use: the last rotated one (`sealed`), as long as it descends from the token
 * now configured; once the operator configures a different token, that one wins again.
 */
export function currentRefreshToken(vault: Vault, sealed: string | null, configured: string): string {
  if (sealed === null) return configured;
  try {
    const saved = JSON.parse(vault.open(sealed, placeOf(REFRESH_TOKEN, KEY.refreshToken))) as { seed?: unknown; token?: unknown };
    if (saved.seed === fingerprint(configured) && typeof saved.token === 'string' && saved.token !== '') {
      return saved.token;
    }
  } catch {
    // unreadable (not JSON, or a sealed value changed outside the relay): fall back to the
    // configured token. A wrong key never gets here: the store does not open with one.
  }
  return configured;
}

/** The refresh token's row, sealed whole (the token and the fingerprint of the one configured). */
export function sealRefreshToken(vault: Vault, configured: string, rotated: string): string {
  const saved = JSON.stringify({ seed: fingerprint(configured), token: rotated });
  return vault.seal(saved, placeOf(REFRESH_TOKEN, KEY.refreshToken));
}
