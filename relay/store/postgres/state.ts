import { ExchangeStatus } from '../../../shared/connections.js';
import { AutoConnect } from '../../../shared/match.js';
import type { ConcurStatus, EventLog, RelayState, Requests } from '../index.js';
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
} from '../state-values.js';
import type { PgContext } from './context.js';
import { lockEvents } from './events.js';

const STATUS_KEYS = STATUS_FIELDS.map((field) => KEY[field]);

/** The PostgreSQL twin of state.ts: the same keys and values in relay_state, shared by every relay. */
export function createPgRelayState(ctx: PgContext, events: Pick<EventLog, 'append'>, requests: Pick<Requests, 'counts'>): RelayState {
  /** The stored values of `keys` (a key not stored reads as null). */
  async function read(keys: readonly string[]): Promise<(key: string) => string | null> {
    const { rows } = await ctx.query<{ key: string; value: string | null }>('SELECT key, value FROM relay_state WHERE key = ANY($1::text[])', [keys]);
    const values = new Map(rows.map((row) => [row.key, row.value]));
    return (key) => values.get(key) ?? null;
  }
  const get = async (key: string): Promise<string | null> => (await read([key]))(key);
  const put = async (key: string, value: string | null, now = ctx.now()): Promise<void> => {
    await ctx.query(
      `INSERT INTO relay_state (key, value, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      [key, value, now],
    );
  };

  const concurStatus = async (): Promise<ConcurStatus> => readConcurStatus(await read(STATUS_KEYS));
  const autoConnect = async (): Promise<AutoConnect> => readAutoConnect(await get(KEY.autoConnect));

  async function summary() {
    const counts = await requests.counts();
    const values = await read([...STATUS_KEYS, KEY.exchange, KEY.autoConnect]);
    return { counts, concur: readConcurStatus(values), exchange: readExchangeStatus(values(KEY.exchange)), autoConnect: readAutoConnect(values(KEY.autoConnect)) };
  }

  return {
    concurStatus,
    summary,
    exchangeStatus: async () => readExchangeStatus(await get(KEY.exchange)),
    async setExchangeStatus(status) {
      await put(KEY.exchange, JSON.stringify(ExchangeStatus.parse(status)));
    },
    autoConnect,
    async setAutoConnect(value) {
      const next = AutoConnect.parse(value);
      return ctx.tx(async () => {
        // Every relay records it at its start: relays starting together take turns (the events
        // lock, before reading), so a change is announced once, by the first.
        await lockEvents(ctx);
        if (sameAutoConnect(await autoConnect(), next)) return false;
        await put(KEY.autoConnect, JSON.stringify(next));
        // Nothing else changes the summary at start: clients that stay connected across a restart hear of it from this event.
        await events.append('summary', await summary());
        return true;
      });
    },
    async updateConcurStatus(patch) {
      return ctx.tx(async () => {
        // Read, compare and write in turn with the other relays, so a change of state is announced once.
        await lockEvents(ctx);
        const before = await concurStatus();
        const status = mergeConcurStatus(before, patch);
        const now = ctx.now();
        for (const field of STATUS_FIELDS) {
          if (status[field] !== before[field]) await put(KEY[field], status[field], now);
        }
        const changed = status.state !== before.state;
        if (changed) await events.append('concur.state_changed', status);
        return { status, changed };
      });
    },
    currentRefreshToken: async (configured) => currentRefreshToken(ctx.vault, await get(KEY.refreshToken), configured),
    async saveRefreshToken(configured, rotated) {
      await put(KEY.refreshToken, sealRefreshToken(ctx.vault, configured, rotated));
    },
  };
}
