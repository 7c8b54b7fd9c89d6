import { versionRules, type ApiVersion } from '../../shared/status.js';
import { createAudit, type Audit } from './audit.js';
import type { Vault } from '../vault/vault.js';
import { createConnections, type Connections } from './connections.js';
import { createContext } from './context.js';
import { closeDatabase, openDatabase, type Db } from './db.js';
import { createDeliveries, type Deliveries } from './deliveries.js';
import { createEventLog, type EventLog } from './events.js';
import { createStoreHealth, noticingFailures, type StoreHealthCheck } from './health.js';
import { createIdempotencyKeys, type IdempotencyKeys } from './idempotency.js';
import { createKeys, type Keys } from './keys.js';
import { createMatches, type Matches } from './matches.js';
import { migrate, type MigrateResult } from './migrations.js';
import { createReplies, type Replies } from './replies.js';
import { createRequests, type Requests } from './requests.js';
import { checkVaultKey, createSealing, sealAtOpen, type SealedAtOpen, type Sealing } from './sealing.js';
import { createRelayState, type RelayState } from './state.js';
import { createWebhooks, type Webhooks } from './webhooks.js';

export type { Actor, Audit, AuditInput } from './audit.js';
export type { Connections, HeldTokenSet, NewConnection, OpenedTokens, TokenForm } from './connections.js';
export * from './errors.js';
export type { Db } from './db.js';
export type {
  AttemptOutcome,
  AttemptRecord,
  AttemptRecorded,
  Deliveries,
  ListDeliveriesQuery,
  OutgoingDelivery,
} from './deliveries.js';
export type { ConcurStatus, EventDataMap, EventListener, EventLog, StoredEvent, StoredEventType } from './events.js';
export type { StoreHealth, StoreHealthCheck } from './health.js';
export type { IdempotencyKeys } from './idempotency.js';
export { KEY_PREFIX, type Keys, type NewKey } from './keys.js';
export type { AttemptInDoubt, OutboxReply } from './mapping.js';
export { AUTO_ACTOR, type MatchDue, type Matches, type MatchOutcome, type MatchRecorded, type Withheld } from './matches.js';
export { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration, type MigrateResult } from './migrations.js';
export { requestTokenSha256, type AttemptUpdate, type EnqueueResult, type Replies, type ReplyBy, type SeenAtConcur } from './replies.js';
export type { ExchangedTokens, ExchangeFacts, ReplyExchange } from './reply-exchange.js';
export { encodeCursor, type ListRequestsQuery, type Requests, type UpsertResult } from './requests.js';
export { SEALED_COLUMNS, type SealedColumn } from './sealed-columns.js';
export type { ColumnCount } from './seal-walk.js';
export type { RotateOptions, RotationReport, SealedAtOpen, Sealing } from './sealing.js';
export type { ConcurStatusUpdate, RelayState } from './state.js';
export { toIso, type TimeInput } from './time.js';
export { webhookTypeOf } from './webhook-messages.js';
export type { WebhookInput, WebhookPatch, WebhookWithSecret, Webhooks } from './webhooks.js';

/** How long a writer waits for another connection's lock before SQLITE_BUSY, unless told. */
const DEFAULT_BUSY_TIMEOUT_MS = 5000;

export interface StoreOptions {
  /** Seals the secrets the store keeps: request tokens, webhook secrets, tokens; required, so none is ever kept in clear. */
  vault: Vault;
  /** Epoch milliseconds; defaults to Date.now. Every time the store writes comes from it. */
  clock?: () => number;
  /** Called when an event listener throws; defaults to console.error. */
  onListenerError?: (error: unknown) => void;
  busyTimeoutMs?: number;
  /** See OpenDatabaseOptions.readonly. */
  readonly?: boolean;
  /** Queue each new pending request for the member directory (auto-connect); only with a directory. Default false. */
  askDirectory?: boolean;
  /**
   * Called with the SQLite connection once the store is open. For tests that change the
   * connection's own limits to make storage fail for real: `PRAGMA max_page_count` (SQLITE_FULL,
   * as from a full disk) or `PRAGMA query_only` (SQLITE_READONLY).
   */
  onOpen?: (db: Db) => void;
  /** The Concur API version whose retry limits (shared/status.ts) replies are held to and requests show; default 3.0. */
  apiVersion?: ApiVersion;
}

/**
 * The relay's only state, in parts: one per table (or small group of tables), each the object its
 * own module makes, under that module's names. A caller is given the parts (or the methods of a
 * part) it may touch, e.g. `{ replies: Pick<Replies, 'due' | 'markSent'> }`. Every method is
 * synchronous; each write and the events it causes commit together or not at all. Nothing returns
 * a request token except `requests.getRequestToken`. The parts' interfaces speak in the shared
 * models and plain values only, so that another database can stand behind them.
 */
export interface Store {
  /** What opening did to the schema. */
  readonly migration: MigrateResult;
  /** What opening did to secrets an older relay kept in clear (sealing.ts). */
  readonly sealedAtOpen: SealedAtOpen;
  /** Connection requests as Concur last showed them (requests.ts). */
  readonly requests: Requests;
  /** Status replies: the outbox (replies.ts). */
  readonly replies: Replies;
  /** The event log and commit notifications (events.ts). */
  readonly events: EventLog;
  /** Webhook subscribers and their secrets (webhooks.ts). */
  readonly webhooks: Webhooks;
  /** What is sent to them, with every attempt (deliveries.ts). */
  readonly deliveries: Deliveries;
  /** Concur's poll state, the summary, the rotated refresh token (state.ts). */
  readonly state: RelayState;
  /** Idempotency-Keys of reply requests (idempotency.ts). */
  readonly idempotency: IdempotencyKeys;
  /** API keys: names, roles, hashes, use and revocation (keys.ts). */
  readonly keys: Keys;
  /** Who did what, appended with each change it records, never changed (audit.ts). */
  readonly audit: Audit;
  /** Travellers' tokens got by exchanging request tokens, sealed (connections.ts). */
  readonly connections: Connections;
  /** What the member directory is still to be asked, and what it said (matches.ts). */
  readonly matches: Matches;
  /** The vault's upkeep: which key the values are under, `vault rotate` (sealing.ts). */
  readonly sealing: Sealing;
  /**
   * Whether the database can be read and written (health.ts): a read, and a probe write (rolled
   * back, or committed while a storage failure is remembered). Storage failures of the other parts
   * are remembered until a probe commits.
   */
  readonly health: Pick<StoreHealthCheck, 'check'>;
  close(): void;
}

/**
 * Opens the store at `path` (creating the file and its folder; `:memory:` for a throwaway one)
 * and migrates it. Throws StoreOpenError when the file cannot be opened, SchemaTooNewError when
 * a newer relay has migrated it, VaultError (one line, the file left as it was) when the vault's
 * keys do not open its sealed values. Every secret an older relay kept in clear is sealed here.
 */
export function openStore(path: string, options: StoreOptions): Store {
  const busyTimeoutMs = Math.max(0, Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS));
  const db = openDatabase(path, { busyTimeoutMs, readonly: options.readonly });
  try {
    const ctx = createContext(db, options.clock ?? Date.now, options.vault);
    // The key first: a wrong one must stop the open before any migration writes to the file.
    checkVaultKey(db, options.vault);
    const migration = migrate(db, ctx.now);
    const sealedAtOpen = sealAtOpen(db, options.vault, ctx.now);
    const onListenerError = options.onListenerError ?? ((error) => console.error('event listener failed:', error));
    // In the order they need each other: each part is given the parts it uses, nothing is wired later.
    const events = createEventLog(ctx, onListenerError);
    const limits = versionRules(options.apiVersion ?? '3.0');
    const requests = createRequests(ctx, events, limits);
    const idempotency = createIdempotencyKeys(ctx);
    const audit = createAudit(ctx);
    const keys = createKeys(ctx, audit);
    const connections = createConnections(ctx, events, audit);
    const state = createRelayState(ctx, events, requests);
    // The member id is read when a CRSUC's tokens are stored, long after both parts exist.
    const memberIdOf = (requestId: string): string | null => matches.memberId(requestId);
    const replies = createReplies(ctx, events, { requests, keys: idempotency, audit, connections, state, memberIdOf }, limits);
    const matches = createMatches(ctx, { events, requests, replies, askAboutNew: options.askDirectory ?? false, tokenLifetimeMs: limits.requestTokenLifetimeMs });
    const webhooks = createWebhooks(ctx, audit);
    const deliveries = createDeliveries(ctx, { events, webhooks, requests, state });
    const health = createStoreHealth(ctx, busyTimeoutMs);
    const sealing = createSealing(ctx);
    options.onOpen?.(db);

    // Every storage failure a part runs into is remembered for the health check.
    const noticing = <T extends object>(part: T, except: ReadonlyArray<keyof T> = []): T =>
      noticingFailures(part, health.note, except);
    return {
      migration,
      sealedAtOpen,
      requests: noticing(requests),
      replies: noticing(replies),
      events: noticing(events, ['subscribe', 'onAppend']),
      webhooks: noticing(webhooks, ['onDisabled']),
      deliveries: noticing(deliveries),
      state: noticing(state),
      idempotency: noticing(idempotency),
      keys: noticing(keys, ['onRevoked']),
      audit: noticing(audit),
      connections: noticing(connections),
      matches: noticing(matches),
      sealing: noticing(sealing),
      health: { check: health.check },
      close() {
        closeDatabase(db);
      },
    };
  } catch (error) {
    // A failed open writes nothing more, not even the statistics `PRAGMA optimize` may keep.
    closeDatabase(db, { optimize: false });
    throw error;
  }
}
