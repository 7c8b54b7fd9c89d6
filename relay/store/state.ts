import { createHash } from 'node:crypto';
import { ExchangeStatus } from '../../shared/connections.js';
import { AutoConnect } from '../../shared/match.js';
import { ConcurState, type Summary } from '../../shared/models.js';
import type { StoreContext } from './context.js';
import type { ConcurStatus, EventLog } from './events.js';
import type { Requests } from './requests.js';
import { placeOf, REFRESH_TOKEN } from './sealed-columns.js';

const KEY = {
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

const STATUS_FIELDS = ['state', 'lastPollAt', 'lastSuccessAt', 'lastError'] as const;

export interface ConcurStatusUpdate {
  status: ConcurStatus;
  /** Whether `state` changed (a `concur.state_changed` event was appended). */
  changed: boolean;
}

export interface RelayState {
  concurStatus(): ConcurStatus;
  /** Merges `patch`; appends concur.state_changed when `state` changes. */
  updateConcurStatus(patch: Partial<ConcurStatus>): ConcurStatusUpdate;
  /** Counts per group with Concur's state: what GET /summary, the event stream and webhooks show. */
  summary(): Summary;
  /** Whether request tokens can be exchanged now (partner credentials configured and accepted). */
  exchangeStatus(): ExchangeStatus;
  setExchangeStatus(status: ExchangeStatus): void;
  /** What auto-connect does (the summary's `autoConnect`); NO_AUTO_CONNECT until a relay has said. */
  autoConnect(): AutoConnect;
  /** Records it (at every start, from the configuration); a change appends a `summary` event with it. Returns whether it changed. */
  setAutoConnect(value: AutoConnect): boolean;
  /** The rotated refresh token descending from `configured` (CONCUR_REFRESH_TOKEN), else `configured`. */
  currentRefreshToken(configured: string): string;
  saveRefreshToken(configured: string, rotated: string): void;
}

function fingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * A small key/value table: Concur's poll state and the rotated OAuth refresh token. The summary
 * is read here, once for everyone, because half of it is this table's (the counts come from
 * `requests`). The refresh token's row is sealed whole (the token and the fingerprint of the one
 * configured), its place `relay_state.value:concur.refreshToken`.
 */
export function createRelayState(
  ctx: StoreContext,
  events: Pick<EventLog, 'append'>,
  requests: Pick<Requests, 'counts'>,
): RelayState {
  const { db } = ctx;
  const select = db.prepare<[string], { value: string | null }>('SELECT value FROM relay_state WHERE key = ?');
  const upsert = db.prepare<[string, string | null, string]>(`
    INSERT INTO relay_state (key, value, updated_at) VALUES (?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`);

  const get = (key: string): string | null => select.get(key)?.value ?? null;

  /** Until the runtime has said otherwise: ok (it says so at every start, from the configuration). */
  function exchangeStatus(): ExchangeStatus {
    const raw = get(KEY.exchange);
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
  function autoConnect(): AutoConnect {
    const raw = get(KEY.autoConnect);
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

  function summary(): Summary {
    return { counts: requests.counts(), concur: concurStatus(), exchange: exchangeStatus(), autoConnect: autoConnect() };
  }

  function concurStatus(): ConcurStatus {
    const state = ConcurState.safeParse(get(KEY.state));
    return {
      state: state.success ? state.data : 'unknown',
      lastPollAt: get(KEY.lastPollAt),
      lastSuccessAt: get(KEY.lastSuccessAt),
      lastError: get(KEY.lastError),
    };
  }

  return {
    concurStatus,

    summary,

    exchangeStatus,

    setExchangeStatus(status) {
      upsert.run(KEY.exchange, JSON.stringify(ExchangeStatus.parse(status)), ctx.now());
    },

    autoConnect,

    setAutoConnect(value) {
      const next = AutoConnect.parse(value);
      return ctx.tx(() => {
        const before = autoConnect();
        if (before.policy === next.policy && before.directory === next.directory) return false;
        upsert.run(KEY.autoConnect, JSON.stringify(next), ctx.now());
        // Nothing else changes the summary at start, so the watcher (ingest/summary.ts) would not
        // announce it: clients that stay connected across a restart hear of it from this event.
        events.append('summary', summary());
        return true;
      });
    },

    updateConcurStatus(patch) {
      return ctx.tx(() => {
        const before = concurStatus();
        const status: ConcurStatus = { ...before };
        for (const field of STATUS_FIELDS) {
          const value = patch[field];
          if (value !== undefined) Object.assign(status, { [field]: value });
        }
        const now = ctx.now();
        for (const field of STATUS_FIELDS) {
          if (status[field] !== before[field]) upsert.run(KEY[field], status[field], now);
        }
        const changed = status.state !== before.state;
        if (changed) events.append('concur.state_changed', status);
        return { status, changed };
      });
    },

    /**
     * The refresh token to use: the last rotated one, as long as it descends from the token now
     * configured; once the operator configures a different token, that one wins again.
     */
    currentRefreshToken(configured) {
      const sealed = get(KEY.refreshToken);
      if (sealed === null) return configured;
      try {
        const saved = JSON.parse(ctx.vault.open(sealed, placeOf(REFRESH_TOKEN, KEY.refreshToken))) as { seed?: unknown; token?: unknown };
        if (saved.seed === fingerprint(configured) && typeof saved.token === 'string' && saved.token !== '') {
          return saved.token;
        }
      } catch {
        // unreadable (not JSON, or a sealed value changed outside the relay): fall back to the
        // configured token. A wrong key never gets here: the store does not open with one.
      }
      return configured;
    },

    saveRefreshToken(configured, rotated) {
      const saved = JSON.stringify({ seed: fingerprint(configured), token: rotated });
      upsert.run(KEY.refreshToken, ctx.vault.seal(saved, placeOf(REFRESH_TOKEN, KEY.refreshToken)), ctx.now());
    },
  };
}
