import pg from 'pg';
import { LeaderState, type Leadership } from '../../workers/leader.js';
import { ADVISORY_LOCK } from './locks.js';
import { clientConfig } from './pool.js';

/**
 * Leadership among the relays of one PostgreSQL database: whoever holds the advisory lock
 * `ADVISORY_LOCK.poller`. It is held on a connection of its own, never one of the pool's, because
 * a session lock lives exactly as long as its connection: when the leader dies (or its connection
 * does), PostgreSQL releases the lock and a follower's next try takes it. Followers try once
 * every `retryMs`; so a follower leads within one interval of the leader's end, and the relays
 * agree on two poll intervals at most when `retryMs` is the poll interval.
 */

export type LeaderTry = 'leader' | 'follower' | 'failed';

export interface PgLeadershipOptions {
  url: string;
  /** How often a follower tries to take the lock (and the leader checks its connection). */
  retryMs: number;
  /** The lock; every relay of a database uses the same (tests use their own). */
  key?: number;
  /** Each try's outcome (the leader's connection check counts as a try); a failure's error carries pg's client (password too): log its message. */
  onTry?: (outcome: LeaderTry, error?: Error) => void;
}

export function pgLeadership(options: PgLeadershipOptions): Leadership {
  const key = options.key ?? ADVISORY_LOCK.poller;
  const state = new LeaderState();
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();

  const schedule = (ms: number): void => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => (running = tick()), ms);
  };

  /** The connection is gone (or unusable): step down at once, and let the followers go first. */
  const drop = (lost: pg.Client): void => {
    if (lost !== client) return;
    client = undefined;
    lost.end().catch(() => undefined);
    state.set(false);
    schedule(2 * options.retryMs);
  };

  const connect = async (): Promise<pg.Client> => {
    const fresh = new pg.Client({
      ...clientConfig(options.url, 'triplink-relay leader'),
      keepAlive: true,
      connectionTimeoutMillis: Math.max(options.retryMs, 5_000),
      query_timeout: Math.max(options.retryMs, 5_000),
      // A leader that stops checking (frozen, cut off from the network) loses its session, and
      // with it the lock, after this long: the server does not wait for TCP to notice.
      options: `-c idle_session_timeout=${Math.max(3 * options.retryMs, 10_000)}`,
    });
    // Without a listener, an 'error' (the server ending the session) would crash the process.
    fresh.on('error', () => drop(fresh));
    fresh.on('end', () => drop(fresh));
    client = fresh;
    try {
      await fresh.connect();
    } catch (error) {
      if (client === fresh) client = undefined;
      fresh.end().catch(() => undefined);
      throw error;
    }
    return fresh;
  };

  async function tick(): Promise<void> {
    timer = undefined;
    let on = client;
    try {
      on ??= await connect();
      if (state.get()) {
        await on.query('SELECT 1');
        options.onTry?.('leader');
      } else {
        const { rows } = await on.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1) AS got', [key]);
        // Stopped meanwhile (stop() releases it), or the connection died on the way back (the
        // lock with it): nothing to take up.
        if (stopped || on !== client) return;
        state.set(rows[0]?.got === true);
        options.onTry?.(state.get() ? 'leader' : 'follower');
      }
      schedule(options.retryMs);
    } catch (error) {
      options.onTry?.('failed', error instanceof Error ? error : new Error(String(error)));
      if (on) drop(on);
      else schedule(options.retryMs);
    }
  }

  running = tick();
  return {
    isLeader: () => state.get(),
    onChange: (listener) => state.onChange(listener),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      const last = client;
      client = undefined;
      state.set(false);
      if (!last) return;
      // Ending the session releases the lock too; unlocking first hands it over without waiting
      // for the server to notice the end.
      await last.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
      await last.end().catch(() => undefined);
    },
  };
}
