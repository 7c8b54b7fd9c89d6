import pg from 'pg';
import { clientConfig } from './pool.js';

/**
 * What the relays of one database tell each other with NOTIFY, heard on one connection of this
 * relay's own, outside the pool: a LISTEN lives on its session, and a pool hands sessions around.
 *
 * A notice is sent by `pg_notify` inside the transaction of the change it tells of, so it goes out
 * when that commits and never when it rolls back. What is sent while this connection is down is
 * lost: on each new connection every channel is listened to again, and then told `reconnected`,
 * to read what it may have missed.
 */

export interface NoticeHandlers {
  /** One notice's payload. Must not throw. */
  notice(payload: string): void;
  /** The connection was lost and is back (not called for the first): notices may have been missed. Must not throw. */
  reconnected?(): void;
}

export interface PgNotices {
  /** Listens to `channel` from now on; resolves once the server listens (rejects when it cannot connect). */
  listen(channel: string, handlers: NoticeHandlers): Promise<void>;
  close(): Promise<void>;
}

/** How long a lost connection waits before it connects again, doubling to the maximum while it fails (as events.ts's). */
const RECONNECT_MS = { first: 100, max: 5_000 };

export interface PgNoticesOptions {
  /** Hears why the connection was lost or could not be made again: its message only (pg attaches the client, password and all). */
  onError?: (error: Error) => void;
}

export function openPgNotices(url: string, options: PgNoticesOptions = {}): PgNotices {
  let pause = RECONNECT_MS.first;
  const channels = new Map<string, NoticeHandlers[]>();
  let client: pg.Client | undefined;
  let connecting: Promise<pg.Client> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const listenOn = (on: pg.Client, channel: string) => on.query(`LISTEN ${on.escapeIdentifier(channel)}`);

  const lost = (gone: pg.Client, error?: Error): void => {
    if (gone !== client) return;
    client = undefined;
    gone.end().catch(() => undefined);
    if (error) options.onError?.(error);
    schedule();
  };

  const schedule = (): void => {
    if (closed || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      connect().then(
        () => {
          pause = RECONNECT_MS.first;
          for (const handlers of channels.values()) for (const { reconnected } of handlers) reconnected?.();
        },
        (error: unknown) => {
          options.onError?.(error instanceof Error ? error : new Error(String(error)));
          pause = Math.min(2 * pause, RECONNECT_MS.max);
          schedule();
        },
      );
    }, pause);
    timer.unref();
  };

  /** A connection listening to every channel so far. */
  const connect = (): Promise<pg.Client> => {
    if (client !== undefined) return Promise.resolve(client);
    connecting ??= (async () => {
      const fresh = new pg.Client({ ...clientConfig(url, 'triplink-relay notices'), keepAlive: true });
      // Without listeners an 'error' (the server ending the session) would end the process.
      fresh.on('error', (error) => lost(fresh, error));
      fresh.on('end', () => lost(fresh));
      fresh.on('notification', ({ channel, payload }) => {
        for (const { notice } of channels.get(channel) ?? []) notice(payload ?? '');
      });
      try {
        await fresh.connect();
        for (const channel of channels.keys()) await listenOn(fresh, channel);
      } catch (error) {
        fresh.removeAllListeners('end');
        fresh.end().catch(() => undefined);
        throw error;
      }
      if (closed) {
        await fresh.end().catch(() => undefined);
        throw new Error('notices closed');
      }
      client = fresh;
      return fresh;
    })().finally(() => (connecting = undefined));
    return connecting;
  };

  return {
    async listen(channel, handlers) {
      const known = channels.get(channel);
      if (known !== undefined) {
        known.push(handlers);
        return;
      }
      channels.set(channel, [handlers]);
      const on = await connect();
      // A connection made before this channel was known listens to it now.
      await listenOn(on, channel);
    },

    async close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      const last = client;
      client = undefined;
      await connecting?.catch(() => undefined);
      if (last) await last.end().catch(() => undefined);
    },
  };
}
