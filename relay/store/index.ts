import type {
  ConnectionRequest,
  Counts,
  DeliveriesPage,
  Delivery,
  DeliveryLogEntry,
  ReplyState,
  RequestsPage,
  Summary,
  Webhook,
} from '../../shared/models.js';
import type { ReplyCode } from '../../shared/status.js';
import type { ConcurRecord } from '../concur/record.js';
import { createContext } from './context.js';
import { closeDatabase, openDatabase, type Db } from './db.js';
import {
  createEventLog,
  type ConcurStatus,
  type EventDataMap,
  type EventListener,
  type StoredEvent,
  type StoredEventType,
} from './events.js';
import { createStoreHealth, noticingFailures, type StoreHealth } from './health.js';
import { createIdempotencyKeys } from './idempotency.js';
import type { OutboxReply } from './mapping.js';
import { migrate, type MigrateResult } from './migrations.js';
import { createReplies, type AttemptUpdate, type EnqueueResult, type SeenAtConcur } from './replies.js';
import { createRequests, type ListRequestsQuery, type UpsertResult } from './requests.js';
import { createRelayState, type ConcurStatusUpdate } from './state.js';
import type { TimeInput } from './time.js';
import {
  createWebhooks,
  type AttemptRecord,
  type AttemptRecorded,
  type ListDeliveriesQuery,
  type OutgoingDelivery,
  type WebhookInput,
  type WebhookPatch,
  type WebhookWithSecret,
  type Webhooks,
} from './webhooks.js';

export * from './errors.js';
export type { Db } from './db.js';
export type { StoreHealth } from './health.js';
export type { ConcurStatus, EventDataMap, EventListener, StoredEvent, StoredEventType } from './events.js';
export { STORED_EVENT_TYPES } from './events.js';
export type { AttemptInDoubt, OutboxReply } from './mapping.js';
export { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration, type MigrateResult } from './migrations.js';
export { requestTokenSha256, type AttemptUpdate, type EnqueueResult, type SeenAtConcur } from './replies.js';
export { decodeCursor, encodeCursor, type ListRequestsQuery, type UpsertResult } from './requests.js';
export type { ConcurStatusUpdate } from './state.js';
export { toIso, type TimeInput } from './time.js';
export {
  MAX_MESSAGE_BYTES,
  PREVIOUS_SECRET_TTL_MS,
  webhookTypeOf,
  type AttemptOutcome,
  type AttemptRecord,
  type AttemptRecorded,
  type ListDeliveriesQuery,
  type MessageType,
  type OutgoingDelivery,
  type WebhookInput,
  type WebhookPatch,
  type WebhookWithSecret,
} from './webhooks.js';

/** How long a writer waits for another connection's lock before SQLITE_BUSY, unless told. */
const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/** How many events `pruneEvents` keeps by default. */
export const DEFAULT_EVENTS_KEPT = 10_000;

export interface StoreOptions {
  /** Epoch milliseconds; defaults to Date.now. Every time the store writes comes from it. */
  clock?: () => number;
  /** Called when an event listener throws; defaults to console.error. */
  onListenerError?: (error: unknown) => void;
  busyTimeoutMs?: number;
  /** See OpenDatabaseOptions.readonly. */
  readonly?: boolean;
  /**
   * Called with the SQLite connection once the store is open. For tests that change the
   * connection's own limits to make storage fail for real: `PRAGMA max_page_count` (SQLITE_FULL,
   * as from a full disk) or `PRAGMA query_only` (SQLITE_READONLY).
   */
  onOpen?: (db: Db) => void;
}

/**
 * The relay's only state: one SQLite file. Every method is synchronous; each write and the
 * events it causes commit together or not at all. Nothing here returns a request token except
 * `getRequestToken`.
 */
export interface Store {
  /** What opening did to the schema. */
  readonly migration: MigrateResult;

  // ---- connection requests ----
  /**
   * Saves what a poll returned, in one transaction: new ids are created (firstSeenAt = seenAt),
   * changed ones updated, unchanged ones left alone; one request.created / request.updated event
   * each. A changed request token restarts its 15 minutes at seenAt. lastModified falls back to
   * seenAt when Concur gives none.
   */
  upsertFromConcur(records: readonly ConcurRecord[], seenAt: TimeInput): UpsertResult;
  /** One request with its latest reply. */
  getRequest(id: string): ConnectionRequest | undefined;
  /** The request token (an OAuth credential): null when Concur gave none, undefined for an unknown id. */
  getRequestToken(id: string): string | null | undefined;
  /** Newest lastModified first (ties: id, descending). Throws BadCursorError for a cursor it did not make. */
  listRequests(query: ListRequestsQuery): RequestsPage;
  counts(): Counts;
  summary(): Summary;

  // ---- replies (the outbox) ----
  /**
   * Queues a status reply. Throws IdempotencyMismatchError, UnknownRequestError,
   * ReplyInFlightError or RetryLimitError (checked in that order).
   */
  enqueueReply(requestId: string, status: ReplyCode, idempotencyKey?: string): EnqueueResult;
  /** Queued replies due at `now`, oldest first. */
  dueReplies(now: TimeInput, limit: number): OutboxReply[];
  /** When the earliest queued reply is due, or null when nothing is queued. */
  nextReplyDueAt(): string | null;
  getReply(replyId: number): OutboxReply | undefined;
  /**
   * An attempt starts (written before its PUT goes out): until its outcome is stored the reply is
   * in doubt. Keeps what the relay knows of the request to compare a read-back with: `seen`, what
   * a read-back just showed, or else what the last poll stored (the token only as its SHA-256).
   * Not a change a client sees: no event, updatedAt unchanged.
   */
  markAttemptStarted(replyId: number, seen?: SeenAtConcur): OutboxReply;
  /** A try that failed in a way worth retrying. `attempts` counts this try; `inDoubt` keeps the reply in doubt. */
  markAttempt(replyId: number, attempt: AttemptUpdate): OutboxReply;
  /** Concur answered 204 (or a read-back showed it applied): the reply is sent (this try counted), the request takes the reply's code (CRRET: retries + 1). */
  markSent(replyId: number): OutboxReply;
  /** Concur gave a final answer (400/404): the reply failed (this try counted), the request keeps its status. */
  markFailed(replyId: number, lastError: string): OutboxReply;
  replyCounts(): Record<ReplyState, number>;
  /** Replies still queued. */
  pendingReplyCount(): number;

  // ---- event log ----
  appendEvent<K extends StoredEventType>(type: K, data: EventDataMap[K]): StoredEvent;
  eventsAfter(id: number, limit: number): StoredEvent[];
  /** 0 when the log is empty. */
  latestEventId(): number;
  /** null when the log is empty; a client whose Last-Event-ID is below oldest − 1 has missed events. */
  oldestEventId(): number | null;
  /** Keeps the newest `keepLast` events (default 10 000); returns how many were deleted. */
  pruneEvents(keepLast?: number): number;
  /** Hears each event once its transaction has committed; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void;
  /**
   * SQLite's data_version: it moves when another connection has committed to the database file
   * since this one last looked, never for this store's own writes (`subscribe` hears those). With
   * both, a cache of answers built from the store knows when they may have changed.
   */
  dataVersion(): number;

  // ---- idempotency keys ----
  /** Forgets Idempotency-Keys created before `olderThan`; returns how many. */
  pruneIdempotencyKeys(olderThan: TimeInput): number;

  // ---- state ----
  concurStatus(): ConcurStatus;
  /** Merges `patch`; appends concur.state_changed when `state` changes. */
  updateConcurStatus(patch: Partial<ConcurStatus>): ConcurStatusUpdate;
  /** The rotated refresh token descending from `configured` (CONCUR_REFRESH_TOKEN), else `configured`. */
  currentRefreshToken(configured: string): string;
  saveRefreshToken(configured: string, rotated: string): void;

  // ---- webhooks (see webhooks.ts) ----
  /** A new enabled webhook and its signing secret (the only time the secret is returned, with rotateWebhookSecret). */
  createWebhook(input: WebhookInput): WebhookWithSecret;
  /** Oldest first. */
  listWebhooks(): Webhook[];
  getWebhook(id: string): Webhook | undefined;
  /**
   * Changes url, events, description or state. Disabling fails its pending deliveries (recover
   * them after enabling again); enabling clears the reason and the failure run. Throws UnknownWebhookError.
   */
  updateWebhook(id: string, patch: WebhookPatch): Webhook;
  /** Removes the webhook with its secrets and delivery log; false when there was none. */
  deleteWebhook(id: string): boolean;
  /** A new current secret; the old one keeps signing for 24 hours. Throws UnknownWebhookError. */
  rotateWebhookSecret(id: string): WebhookWithSecret;
  /** The secrets that sign a message sent at `at`: the current one first, then rotated ones not yet expired. */
  webhookSigningSecrets(id: string, at: TimeInput): string[];
  /** Disables the webhook (if enabled) saying why; its pending deliveries fail with that reason. */
  disableWebhook(id: string, reason: string): Webhook;
  /** Queues a `webhook.test` message. Throws UnknownWebhookError, WebhookDisabledError. */
  enqueueTestDelivery(webhookId: string): Delivery;
  /** Newest first, with attempts. Throws UnknownWebhookError, BadCursorError. */
  listDeliveries(webhookId: string, query: ListDeliveriesQuery): DeliveriesPage;
  getDelivery(webhookId: string, deliveryId: string): DeliveryLogEntry | undefined;
  /**
   * A new chain of attempts for a finished delivery (same message id, full retry schedule).
   * Throws UnknownWebhookError, UnknownDeliveryError, WebhookDisabledError, DeliveryPendingError, DeliveryTooLargeError.
   */
  resendDelivery(webhookId: string, deliveryId: string): Delivery;
  /** Re-queues every failed delivery of the webhook created at or after `since`; returns how many. */
  recoverDeliveries(webhookId: string, since: TimeInput): number;
  /** The oldest due delivery of each enabled webhook, oldest first. */
  dueDeliveries(now: TimeInput, limit: number): OutgoingDelivery[];
  /** When the earliest pending delivery of an enabled webhook is due (only those due after `after`, when given); null when none. */
  nextDeliveryDueAt(after?: TimeInput): string | null;
  /** Records one attempt and its outcome; undefined when the delivery is gone (its webhook was deleted). */
  recordDeliveryAttempt(record: AttemptRecord): AttemptRecorded | undefined;
  deliveryCounts(): Record<Delivery['state'], number>;
  /** Forgets finished (succeeded or failed) deliveries last changed before `olderThan`; returns how many. */
  pruneDeliveries(olderThan: TimeInput): number;

  // ---- lifecycle ----
  /**
   * Whether the database can be read and written (see health.ts): a read, and a probe write
   * (rolled back, or committed while a storage failure is remembered). Storage failures of any
   * other method are remembered until a probe commits.
   */
  health(): StoreHealth;
  /** `health().ok`. */
  healthy(): boolean;
  close(): void;
}

/**
 * Opens the store at `path` (creating the file and its folder; `:memory:` for a throwaway one)
 * and migrates it. Throws StoreOpenError when the file cannot be opened, SchemaTooNewError when
 * a newer relay has migrated it.
 */
export function openStore(path: string, options: StoreOptions = {}): Store {
  const busyTimeoutMs = Math.max(0, Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS));
  const db = openDatabase(path, { busyTimeoutMs, readonly: options.readonly });
  try {
    const ctx = createContext(db, options.clock ?? Date.now);
    const migration = migrate(db, ctx.now);
    const onListenerError = options.onListenerError ?? ((error) => console.error('event listener failed:', error));
    // Events fan out to webhook deliveries inside their own transaction; the views they need come later.
    let webhooks: Webhooks | undefined;
    const events = createEventLog(ctx, onListenerError, (event) => webhooks?.fanOut(event));
    const requests = createRequests(ctx, events);
    const keys = createIdempotencyKeys(ctx);
    const replies = createReplies(ctx, events, requests, keys);
    const state = createRelayState(ctx, events);
    const hooks = createWebhooks(ctx, {
      request: requests.get,
      summary: () => ({ counts: requests.counts(), concur: state.concurStatus() }),
    });
    webhooks = hooks;
    const health = createStoreHealth(ctx, busyTimeoutMs);
    const selectDataVersion = db.prepare<[], { data_version: number }>('PRAGMA data_version');
    options.onOpen?.(db);

    const store: Store = {
      migration,
      upsertFromConcur: requests.upsertFromConcur,
      getRequest: requests.get,
      getRequestToken: requests.getRequestToken,
      listRequests: requests.list,
      counts: requests.counts,
      summary: () => ({ counts: requests.counts(), concur: state.concurStatus() }),

      enqueueReply: replies.enqueue,
      dueReplies: replies.due,
      nextReplyDueAt: replies.nextDueAt,
      getReply: replies.get,
      markAttemptStarted: replies.markAttemptStarted,
      markAttempt: replies.markAttempt,
      markSent: replies.markSent,
      markFailed: replies.markFailed,
      replyCounts: replies.counts,
      pendingReplyCount: replies.pendingCount,

      appendEvent: (type, data) => ctx.tx(() => events.append(type, data)),
      eventsAfter: events.after,
      latestEventId: events.latestId,
      oldestEventId: events.oldestId,
      pruneEvents: (keepLast = DEFAULT_EVENTS_KEPT) => events.prune(keepLast),
      subscribe: events.subscribe,
      dataVersion: () => selectDataVersion.get()?.data_version ?? 0,

      pruneIdempotencyKeys: keys.prune,

      concurStatus: state.concurStatus,
      updateConcurStatus: state.updateConcurStatus,
      currentRefreshToken: state.currentRefreshToken,
      saveRefreshToken: state.saveRefreshToken,

      createWebhook: hooks.create,
      listWebhooks: hooks.list,
      getWebhook: hooks.get,
      updateWebhook: hooks.update,
      deleteWebhook: hooks.remove,
      rotateWebhookSecret: hooks.rotateSecret,
      webhookSigningSecrets: hooks.signingSecrets,
      disableWebhook: hooks.disable,
      enqueueTestDelivery: hooks.enqueueTest,
      listDeliveries: hooks.listDeliveries,
      getDelivery: hooks.getDelivery,
      resendDelivery: hooks.resend,
      recoverDeliveries: hooks.recover,
      dueDeliveries: hooks.due,
      nextDeliveryDueAt: hooks.nextDueAt,
      recordDeliveryAttempt: hooks.recordAttempt,
      deliveryCounts: hooks.counts,
      pruneDeliveries: hooks.prune,

      health: health.check,
      healthy: () => health.check().ok,
      close() {
        closeDatabase(db);
      },
    };
    return noticingFailures(store, health.note, ['health', 'healthy', 'close', 'subscribe']);
  } catch (error) {
    closeDatabase(db);
    throw error;
  }
}
