import { DEFAULT_DB_PATH, type RelayConfig } from '../base/config-shape.js';
import type { Logger } from '../base/log.js';
import { openStore, type Store, type StoreParts } from '../store/index.js';
import { openPgStore, type PgStore } from '../store/postgres/index.js';
import { pgLeadership } from '../store/postgres/leader.js';
import { newRelayId, replyLeaseMs } from '../store/reply-claims.js';
import type { Vault } from '../vault/vault.js';
import { soleLeader, type Leadership } from '../workers/leader.js';

/**
 * The database RELAY_DB names, opened as the store's parts, with who polls: alone on an SQLite
 * file this relay always does; on PostgreSQL the relay holding the poller's advisory lock does
 * (store/postgres/leader.ts), tried again every poll interval, so a follower takes over within
 * two intervals of the leader's end.
 */
export interface OpenedDatabase<S extends StoreParts> {
  store: S & { close(): void | Promise<void> };
  leadership: Leadership;
  /** Where sandbox mode keeps its generated API key and vault key (beside the SQLite file). */
  sandboxFilesBeside: string;
}

export function openSqlite(config: RelayConfig, vault: Vault): OpenedDatabase<Store> {
  if (config.database.kind !== 'sqlite') throw new Error('openSqlite needs RELAY_DB to be an SQLite file');
  const store = openStore(config.database.path, { vault, apiVersion: config.concur.apiVersion, askDirectory: config.match !== null });
  return { store, leadership: soleLeader(), sandboxFilesBeside: config.database.path };
}

export async function openPostgres(config: RelayConfig, vault: Vault, logger: Logger): Promise<OpenedDatabase<PgStore>> {
  if (config.database.kind !== 'postgres') throw new Error('openPostgres needs RELAY_DB to be a PostgreSQL URL');
  const { url, shown } = config.database;
  const relayId = newRelayId();
  const store = await openPgStore(url, {
    vault,
    apiVersion: config.concur.apiVersion,
    askDirectory: config.match !== null,
    relayId,
    // A claim on a reply outlives the longest Concur call it covers (reply-claims.ts).
    replyLeaseMs: replyLeaseMs(config.concur.timeoutSeconds * 1000),
    onListenerError: (err) => logger.error({ err }, 'event listener failed'),
    // Messages only: pg's errors may carry its client, and with it the password.
    onConnectionError: (error) => logger.warn({ database: shown, message: error.message }, 'a connection to PostgreSQL ended; the store reconnects'),
  });
  const retryMs = config.concur.pollIntervalSeconds * 1000;
  const leadership = pgLeadership({
    url,
    retryMs,
    onTry: (outcome, error) => {
      if (outcome === 'failed') logger.warn({ database: shown, message: error?.message }, 'could not ask PostgreSQL which relay polls; trying again');
      // One line per try (debug): how many intervals a takeover took can be counted.
      else if (outcome === 'follower') logger.debug({ retryMs }, 'another relay holds the poller lock; trying again in a poll interval');
    },
  });
  logger.info({ database: shown, relayId }, 'store on PostgreSQL');
  return { store, leadership, sandboxFilesBeside: DEFAULT_DB_PATH };
}
