import { versionRules, type ApiVersion } from '../../shared/status.js';
import { createAudit, type Audit as SqliteAudit } from './audit.js';
import type { Vault } from '../vault/vault.js';
import { createConnections, type Connections as SqliteConnections } from './connections.js';
import { createContext } from './context.js';
import { closeDatabase, openDatabase, type Db } from './db.js';
import { createDeliveries, type Deliveries as SqliteDeliveries } from './deliveries.js';
import { createEventLog, type EventDataMap, type EventLog as SqliteEventLog, type StoredEvent, type StoredEventType } from './events.js';
import { createStoreHealth, noticingFailures, type StoreHealth } from './health.js';
import { createIdempotencyKeys, type IdempotencyKeys as SqliteIdempotencyKeys } from './idempotency.js';
import { createKeys, type Keys as SqliteKeys } from './keys.js';
import { createMatches, type Matches as SqliteMatches } from './matches.js';
import { migrate, type MigrateResult } from './migrations.js';
import { createReplies, type Replies as SqliteReplies } from './replies.js';
import { deliveryClaims, replyClaims, SOLE_RELAY_ID } from './reply-claims.js';
import type { ReplyExchange as SqliteReplyExchange } from './reply-exchange.js';
import { createRequests, type Requests as SqliteRequests } from './requests.js';
import { checkVaultKey, createSealing, sealAtOpen, type SealedAtOpen, type Sealing as SqliteSealing } from './sealing.js';
import { createRelayState, type RelayState as SqliteRelayState } from './state.js';
import type { AsyncPart, Awaitable } from './view.js';
import { createWebhooks, type Webhooks as SqliteWebhooks } from './webhooks.js';

export type { Actor, AuditInput } from './audit.js';
export type { HeldTokenSet, NewConnection, OpenedTokens, TokenForm } from './connections.js';
export * from './errors.js';
export type { Db } from './db.js';
export type { AttemptOutcome, AttemptRecord, AttemptRecorded, ListDeliveriesQuery, OutgoingDelivery } from './deliveries.js';
export type { ConcurStatus, EventDataMap, EventListener, StoredEvent, StoredEventType } from './events.js';
export type { StoreHealth } from './health.js';
export { KEY_PREFIX, type NewKey } from './keys.js';
export type { AttemptInDoubt, OutboxReply } from './mapping.js';
export { AUTO_ACTOR, type MatchDue, type MatchOutcome, type MatchRecorded, type Withheld } from './matches.js';
export { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration, type MigrateResult } from './migrations.js';
export { requestTokenSha256, type AttemptUpdate, type EnqueueResult, type ReplyBy, type SeenAtConcur } from './replies.js';
export type { ExchangedTokens, ExchangeFacts } from './reply-exchange.js';
export { DEFAULT_REPLY_LEASE_MS, replyLeaseMs, type ReplyClaims } from './reply-claims.js';
export { encodeCursor, type ListRequestsQuery, type UpsertResult } from './requests.js';
export { SEALED_COLUMNS, type SealedColumn } from './sealed-columns.js';
export type { ColumnCount } from './seal-walk.js';
export type { RotateOptions, RotationReport, SealedAtOpen } from './sealing.js';
export type { ConcurStatusUpdate } from './state.js';
export { toIso, type TimeInput } from './time.js';
export type { AsyncPart, Awaitable } from './view.js';
export { webhookTypeOf } from './webhook-messages.js';
export type { WebhookInput, WebhookPatch, WebhookWithSecret } from './webhooks.js';
export type {
  SqliteAudit,
  SqliteConnections,
  SqliteDeliveries,
  SqliteEventLog,
  SqliteIdempotencyKeys,
  SqliteKeys,
  SqliteMatches,
  SqliteRelayState,
  SqliteReplies,
  SqliteReplyExchange,
  SqliteRequests,
  SqliteSealing,
  SqliteWebhooks,
};

// The parts as the relay's code takes them (see StoreParts): each method awaitable, listener registrations as they are.
export type Requests = AsyncPart<SqliteRequests>;
export type Replies = AsyncPart<SqliteReplies>;
export type ReplyExchange = AsyncPart<SqliteReplyExchange>;
export type EventLog = AsyncPart<Omit<SqliteEventLog, 'append'>, 'subscribe' | 'onAppend' | 'onAppendAll'> & {
  append<K extends StoredEventType>(type: K, data: EventDataMap[K]): Awaitable<StoredEvent>;
};
export type Webhooks = AsyncPart<SqliteWebhooks, 'onDisabled'>;
export type Deliveries = AsyncPart<SqliteDeliveries>;
export type RelayState = AsyncPart<SqliteRelayState>;
export type IdempotencyKeys = AsyncPart<SqliteIdempotencyKeys>;
export type Keys = AsyncPart<SqliteKeys, 'onRevoked'>;
export type Audit = AsyncPart<SqliteAudit>;
export type Connections = AsyncPart<SqliteConnections>;
export type Matches = AsyncPart<SqliteMatches>;
export type Sealing = AsyncPart<SqliteSealing>;
/** Whether the database can be read and written (health.ts). */
export interface StoreHealthCheck {
  check(): Awaitable<StoreHealth>;
}

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
  /** How this relay's claims on replies name it (reply-claims.ts); default: the file's one relay (SOLE_RELAY_ID). */
  relayId?: string;
  /** How long a claim on a reply keeps other relays away; default DEFAULT_REPLY_LEASE_MS (see replyLeaseMs for a longer Concur timeout). */
  replyLeaseMs?: number;
}

/**
 * The relay's only state, in parts: one per table (or small group of tables), each the object its
 * own module makes, under that module's names. A caller is given the parts (or the methods of a
 * part) it may touch, e.g. `{ replies: Pick<Replies, 'due' | 'markSent'> }`. Each write and the
 * events it causes commit together or not at all. Nothing returns a request token except
 * `requests.getRequestToken`. The parts' interfaces speak in the shared models and plain values
 * only, so that another database can stand behind them.
 *
 * This is the awaitable view: every method answers `Awaitable<T>` (a value or a promise of it),
 * and every caller awaits it. Why: SQLite (better-sqlite3) answers synchronously, and is fastest
 * so; PostgreSQL (`pg`) can only answer with promises. Callers written against the view run on
 * both, while the SQLite store satisfies the view as it is (Store below is one): no wrapper,
 * no promise made per call, so the SQLite path costs only the `await` of a plain value. Tests of
 * the SQLite store may call it synchronously. What the view cannot promise is that nothing
 * commits between two calls (each `await` may yield): a caller that needs two reads to agree
 * orders them so that a commit in between is sent again rather than missed. Listener
 * registrations (`events.subscribe`, `events.onAppend`, `keys.onRevoked`, `webhooks.onDisabled`)
 * stay synchronous: a listener is in place when they return. The listeners hear a commit after
 * it, synchronously in SQLite; a caller must not assume they have run when its write's promise
 * settles unless it reads the write's own answer.
 */
export interface StoreParts {
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
  readonly health: StoreHealthCheck;
  close(): Awaitable<void>;
}

/**
 * The store on SQLite, as openStore opens it: the parts of StoreParts, every method synchronous.
 * It is a StoreParts as it is (the relay's code takes it so); its own tests call it directly.
 */
export interface Store extends StoreParts {
  readonly requests: SqliteRequests;
  readonly replies: SqliteReplies;
  readonly events: SqliteEventLog;
  readonly webhooks: SqliteWebhooks;
  readonly deliveries: SqliteDeliveries;
  readonly state: SqliteRelayState;
  readonly idempotency: SqliteIdempotencyKeys;
  readonly keys: SqliteKeys;
  readonly audit: SqliteAudit;
  readonly connections: SqliteConnections;
  readonly matches: SqliteMatches;
  readonly sealing: SqliteSealing;
  readonly health: { check(): StoreHealth };
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
    const claims = replyClaims(options, () => SOLE_RELAY_ID);
    const replies = createReplies(ctx, events, { requests, keys: idempotency, audit, connections, state, memberIdOf }, limits, claims);
    const matches = createMatches(ctx, { events, requests, replies, askAboutNew: options.askDirectory ?? false, tokenLifetimeMs: limits.requestTokenLifetimeMs });
    const webhooks = createWebhooks(ctx, audit);
    const deliveries = createDeliveries(ctx, { events, webhooks, requests, state }, deliveryClaims(claims));
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
      events: noticing(events, ['subscribe', 'onAppend', 'onAppendAll']),
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
