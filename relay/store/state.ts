import { ExchangeStatus } from '../../shared/connections.js';
import { AutoConnect } from '../../shared/match.js';
import type { Summary } from '../../shared/models.js';
import type { StoreContext } from './context.js';
import type { ConcurStatus, EventLog } from './events.js';
import type { Requests } from './requests.js';
import {
  currentRefreshToken,
  KEY,
  mergeConcurStatus,
  readAutoConnect,
  readConcurStatus,
  readExchangeStatus,
  sameAutoConnect,
  sealRefreshToken,
  STATUS_FIELDS,
} from './state-values.js';

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

  const exchangeStatus = (): ExchangeStatus => readExchangeStatus(get(KEY.exchange));
  const autoConnect = (): AutoConnect => readAutoConnect(get(KEY.autoConnect));
  const concurStatus = (): ConcurStatus => readConcurStatus(get);

  function summary(): Summary {
    return { counts: requests.counts(), concur: concurStatus(), exchange: exchangeStatus(), autoConnect: autoConnect() };
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
        if (sameAutoConnect(autoConnect(), next)) return false;
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
        const status = mergeConcurStatus(before, patch);
        const now = ctx.now();
        for (const field of STATUS_FIELDS) {
          if (status[field] !== before[field]) upsert.run(KEY[field], status[field], now);
        }
        const changed = status.state !== before.state;
        if (changed) events.append('concur.state_changed', status);
        return { status, changed };
      });
    },

    currentRefreshToken(configured) {
      return currentRefreshToken(ctx.vault, get(KEY.refreshToken), configured);
    },

    saveRefreshToken(configured, rotated) {
      upsert.run(KEY.refreshToken, sealRefreshToken(ctx.vault, configured, rotated), ctx.now());
    },
  };
}
