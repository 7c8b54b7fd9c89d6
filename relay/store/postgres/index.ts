import type pg from 'pg';
import { versionRules } from '../../../shared/status.js';
import type { Awaitable, StoreOptions, StoreParts } from '../index.js';
import { noticingFailures } from '../health.js';
import { createPgAudit } from './audit.js';
import { createPgStoreHealth } from './health.js';
import { createPgKeys } from './keys.js';
import { openPgNotices } from './notices.js';
import { checkPgVaultKey, createPgSealing, pgSealAtOpen } from './sealing.js';
import { createPgWebhooks } from './webhooks.js';
import { createPgContext, type PgContext } from './context.js';
import { createPgEventLog, type PgEventLog } from './events.js';
import { createPgIdempotencyKeys } from './idempotency.js';
import { migratePg } from './migrations.js';
import { openPool, type PoolOptions } from './pool.js';
import { createPgRequests } from './requests.js';
import { createPgRelayState } from './state.js';
import { deliveryClaims, newRelayId, replyClaims } from '../reply-claims.js';
import { createPgDeliveries, releaseDeliveryClaims } from './deliveries.js';
import { createPgConnections } from './connections.js';
import { createPgMatches } from './matches.js';
import { createPgReplies, releaseUnstartedClaims } from './replies.js';

/**
 * The store on PostgreSQL: the twin of openStore (../index.ts), for any number of relays on one
 * database, with every part StoreParts has.
 */

export interface PgStoreOptions
  extends Pick<StoreOptions, 'vault' | 'clock' | 'onListenerError' | 'askDirectory' | 'apiVersion' | 'relayId' | 'replyLeaseMs'> {
  /** The pool's size and name in pg_stat_activity (pool.ts). */
  pool?: Omit<PoolOptions, 'onIdleError'>;
  /** Hears of connections the server ended (idle pool connections, the LISTEN connection); messages only. */
  onConnectionError?: (error: Error) => void;
  /** How long a health check may take before it answers "unreadable" (health.ts); 5 s by default. */
  healthTimeoutMs?: number;
}

/** The parts built on PostgreSQL (one line each): since deliveries, every part of StoreParts. */
export type PgPartName =
  | 'events'
  | 'requests'
  | 'state'
  | 'idempotency'
  | 'sealedAtOpen'
  | 'audit'
  | 'keys'
  | 'webhooks'
  | 'sealing'
  | 'health'
  | 'connections'
  | 'replies'
  | 'matches'
  | 'deliveries';

/** Every part of StoreParts: the relay's code can take it as it takes the SQLite store. */
export interface PgStore extends StoreParts {
  readonly events: PgEventLog;
  readonly pool: pg.Pool;
  /** Gives back the reply claims it has not started on and its delivery claims, ends the LISTEN connection and the pool. */
  close(): Promise<void>;
}

/**
 * Opens the store on the database `url` names and migrates it. Throws SchemaTooNewError when a
 * newer relay has migrated it, VaultError when the vault's keys do not open its sealed values
 * (nothing written), and pg's error when the server cannot be reached.
 */
export async function openPgStore(url: string, options: PgStoreOptions): Promise<PgStore> {
  const onConnectionError = options.onConnectionError ?? (() => undefined);
  const pool = openPool(url, { ...options.pool, onIdleError: onConnectionError });
  const ended: Array<() => Promise<void>> = [() => pool.end()];
  const closeAll = async (): Promise<void> => {
    for (const end of ended.splice(0).reverse()) await end().catch(() => undefined);
  };
  try {
    const ctx = createPgContext(pool, options.clock ?? Date.now, options.vault);
    await checkPgVaultKey(ctx);
    const migration = await migratePg(pool, ctx.now);
    const sealedAtOpen = await pgSealAtOpen(ctx);
    const onListenerError = options.onListenerError ?? ((error) => console.error('event listener failed:', error));
    const limits = versionRules(options.apiVersion ?? '3.0');
    // In the order they need each other, as in openStore.
    // One LISTEN connection for the store: events and key revocations come from every relay by NOTIFY.
    const notices = openPgNotices(url, { onError: (error) => onConnectionError(new Error(error.message)) });
    ended.push(() => notices.close());
    const events = await createPgEventLog(ctx, { notices, onListenerError });
    ended.push(() => events.close());
    const requests = createPgRequests(ctx, events, limits);
    const idempotency = createPgIdempotencyKeys(ctx);
    const state = createPgRelayState(ctx, events, requests);
    // Audit, keys, webhooks, the vault's upkeep, health (G2). Revocations reach every relay by NOTIFY (keys.ts).
    const health = createPgStoreHealth(ctx, options.healthTimeoutMs);
    const noticing = <T extends object>(part: T, except: ReadonlyArray<keyof T> = []): T => noticingFailures(part, health.note, except);
    const audit = noticing(createPgAudit(ctx));
    const keys = noticing(await createPgKeys(ctx, audit, notices), ['onRevoked']);
    const webhooks = noticing(createPgWebhooks(ctx, audit), ['onDisabled']);
    const sealing = noticing(createPgSealing(ctx));
    // The outbox and what it needs (each relay its own claims on replies: reply-claims.ts).
    const connections = noticing(createPgConnections(ctx, events, audit));
    const memberIdOf = (requestId: string): Awaitable<string | null> => matches.memberId(requestId);
    const claims = replyClaims(options, newRelayId);
    const replies = noticing(createPgReplies(ctx, events, { requests, keys: idempotency, audit, connections, state, memberIdOf }, limits, claims));
    ended.push(() => releaseUnstartedClaims(ctx, claims).then(() => undefined));
    const matches = noticing(
      await createPgMatches(ctx, {
        events,
        requests,
        replies,
        askAboutNew: options.askDirectory ?? false,
        tokenLifetimeMs: limits.requestTokenLifetimeMs,
      }),
    );

    // Webhook deliveries, after what their messages read (requests, state); each relay its own claims on them.
    const deliveries = noticing(createPgDeliveries(ctx, { events, webhooks, requests, state }, deliveryClaims(claims)));
    ended.push(() => releaseDeliveryClaims(ctx, claims).then(() => undefined));

    return {
      migration,
      pool,
      events,
      requests,
      state,
      idempotency,
      sealedAtOpen,
      audit,
      keys,
      webhooks,
      sealing,
      health: { check: health.check },
      connections,
      replies,
      matches,
      deliveries,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
