import Database from 'better-sqlite3';

/**
 * The store's typed errors. Messages are safe to show to an API client (no SQL, no paths, no
 * tokens); `code` is stable, and relay/api/errors.ts maps it to HTTP statuses in one table.
 */
export type StoreErrorCode =
  | 'bad_cursor'
  | 'unknown_request'
  | 'unknown_reply'
  | 'reply_in_flight'
  | 'reply_claimed'
  | 'retry_limit'
  | 'idempotency_mismatch'
  | 'open_failed'
  | 'schema_too_new'
  | 'unknown_webhook'
  | 'unknown_delivery'
  | 'webhook_disabled'
  | 'delivery_pending'
  | 'delivery_too_large'
  | 'unknown_key'
  | 'ambiguous_key'
  | 'unknown_connection'
  | 'exchange_unavailable';

export abstract class StoreError extends Error {
  abstract readonly code: StoreErrorCode;
}

/** A `cursor` that this store did not produce (or that was damaged on the way). */
export class BadCursorError extends StoreError {
  override readonly name = 'BadCursorError';
  readonly code = 'bad_cursor';
  constructor() {
    super('the cursor is not valid; use the nextCursor of a previous page, or leave it out for the first page');
  }
}

export class UnknownRequestError extends StoreError {
  override readonly name = 'UnknownRequestError';
  readonly code = 'unknown_request';
  constructor(readonly requestId: string) {
    super(`there is no connection request with id ${JSON.stringify(requestId)}`);
  }
}

/** A reply id the outbox does not know (a programming error in the caller). */
export class UnknownReplyError extends StoreError {
  override readonly name = 'UnknownReplyError';
  readonly code = 'unknown_reply';
  constructor(readonly replyId: number) {
    super(`there is no reply with id ${replyId}`);
  }
}

/** Another reply for the same request is still queued (on its way to Concur). */
export class ReplyInFlightError extends StoreError {
  override readonly name = 'ReplyInFlightError';
  readonly code = 'reply_in_flight';
  constructor(
    readonly requestId: string,
    readonly replyId: number,
  ) {
    super('another reply for this request is still on its way to Concur; try again once it has been sent or has failed');
  }
}

/**
 * Another relay on the same database holds the reply (reply-claims.ts) and its lease has not
 * ended: this relay must not call Concur for it. Not a failure: the reply is that relay's to send.
 */
export class ReplyClaimedError extends StoreError {
  override readonly name = 'ReplyClaimedError';
  readonly code = 'reply_claimed';
  constructor(readonly replyId: number) {
    super(`reply ${replyId} is being worked on by another relay`);
  }
}

/**
 * A CRSUC while the relay cannot exchange request tokens (no partner client credentials, or Concur
 * refused them): CRSUC means the traveller's tokens are stored, so it cannot be sent. `reason` is
 * the summary's (it names the variables, never a value).
 */
export class ExchangeUnavailableError extends StoreError {
  override readonly name = 'ExchangeUnavailableError';
  readonly code = 'exchange_unavailable';
  constructor(
    readonly requestId: string,
    readonly reason: string,
  ) {
    super(`CRSUC means the relay has exchanged the request token for the traveller's tokens and stored them, and it cannot exchange request tokens: ${reason}`);
  }
}

/** CRRET after Concur's limit of retries for this request. */
export class RetryLimitError extends StoreError {
  override readonly name = 'RetryLimitError';
  readonly code = 'retry_limit';
  constructor(
    readonly requestId: string,
    /** Which retry: CRRET (a new request token), or CREU (3.2: a CREU code, requeued a day later). */
    readonly kind: 'CRRET' | 'CREU',
    readonly retries: number,
    readonly max: number,
  ) {
    super(
      kind === 'CRRET'
        ? `this request has used all ${max} retries (CRRET) that Concur allows; another would fail it for good`
        : `this request was answered with a CREU code ${retries} times, all ${max} that Concur requeues; another would fail it for good`,
    );
  }
}

/** An Idempotency-Key reused for a different request or a different body. */
export class IdempotencyMismatchError extends StoreError {
  override readonly name = 'IdempotencyMismatchError';
  readonly code = 'idempotency_mismatch';
  constructor() {
    super('this Idempotency-Key was already used for a different request or a different body; use a new key');
  }
}

/** The database file could not be opened or is not a database; the message names the path. */
export class StoreOpenError extends StoreError {
  override readonly name = 'StoreOpenError';
  readonly code = 'open_failed';
}

/** The file was migrated by a newer relay; an older one must not write to it. */
export class SchemaTooNewError extends StoreError {
  override readonly name = 'SchemaTooNewError';
  readonly code = 'schema_too_new';
  constructor(
    readonly found: number,
    readonly known: number,
  ) {
    super(`the database has schema version ${found}, but this relay only knows versions up to ${known}; run a newer relay`);
  }
}

export class UnknownWebhookError extends StoreError {
  override readonly name = 'UnknownWebhookError';
  readonly code = 'unknown_webhook';
  constructor(readonly webhookId: string) {
    super(`there is no webhook with id ${JSON.stringify(webhookId)}`);
  }
}

export class UnknownDeliveryError extends StoreError {
  override readonly name = 'UnknownDeliveryError';
  readonly code = 'unknown_delivery';
  constructor(
    readonly webhookId: string,
    readonly deliveryId: string,
  ) {
    super(`webhook ${JSON.stringify(webhookId)} has no delivery with id ${JSON.stringify(deliveryId)}`);
  }
}

/** Sending (a test, a resend, a recovery) to a disabled endpoint. */
export class WebhookDisabledError extends StoreError {
  override readonly name = 'WebhookDisabledError';
  readonly code = 'webhook_disabled';
  constructor(readonly webhookId: string) {
    super('this webhook is disabled; enable it first with PATCH {"state":"enabled"}');
  }
}

/** A resend of a delivery that is still on its way. */
export class DeliveryPendingError extends StoreError {
  override readonly name = 'DeliveryPendingError';
  readonly code = 'delivery_pending';
  constructor(readonly deliveryId: string) {
    super('this delivery is still on its way (state pending); resend it once it has succeeded or failed');
  }
}

/** A resend of a message that was over the size limit and was never sent. */
export class DeliveryTooLargeError extends StoreError {
  override readonly name = 'DeliveryTooLargeError';
  readonly code = 'delivery_too_large';
  constructor(
    readonly deliveryId: string,
    readonly maxBytes: number,
  ) {
    super(`this message was over the ${maxBytes / 1024} KiB limit for webhook messages and cannot be sent`);
  }
}

// ---------------------------------------------------------------------------------------------
// Storage failures: SQLite's own errors when the file cannot be written (or read) as such
// ---------------------------------------------------------------------------------------------

/** Why the database cannot be written; each has a text for people (STORAGE_PROBLEM_TEXT). */
export type StorageProblem = 'full' | 'read_only' | 'io_error' | 'busy';

export const STORAGE_PROBLEM_TEXT: Readonly<Record<StorageProblem, string>> = {
  full: 'the disk is full',
  read_only: 'the database file is read-only',
  io_error: 'the disk reports I/O errors',
  busy: "another process holds the database's write lock",
};

/**
 * The storage problem `error` reports, or undefined for any other error. SQLite's extended
 * codes name the primary one first (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED, …).
 */
export function storageProblemOf(error: unknown): StorageProblem | undefined {
  if (!(error instanceof Database.SqliteError)) return undefined;
  const code = error.code;
  const is = (primary: string) => code === primary || code.startsWith(`${primary}_`);
  if (is('SQLITE_FULL')) return 'full';
  if (is('SQLITE_READONLY')) return 'read_only';
  if (is('SQLITE_IOERR') || is('SQLITE_CANTOPEN')) return 'io_error';
  if (is('SQLITE_BUSY')) return 'busy';
  return undefined;
}

/** An API key id or prefix that names no key. */
export class UnknownKeyError extends StoreError {
  override readonly name = 'UnknownKeyError';
  readonly code = 'unknown_key';
  constructor(readonly idOrPrefix: string) {
    super(`there is no API key with id or prefix ${JSON.stringify(idOrPrefix)}; list them with GET /api/v1/keys or \`keys list\``);
  }
}

/** A prefix shared by several keys: revoking by it would be a guess. */
export class AmbiguousKeyError extends StoreError {
  override readonly name = 'AmbiguousKeyError';
  readonly code = 'ambiguous_key';
  constructor(
    readonly prefix: string,
    readonly ids: readonly string[],
  ) {
    super(`${ids.length} API keys start with ${JSON.stringify(prefix)} (${ids.join(', ')}); name the key by its id instead`);
  }
}

/** A connection id the store does not know. */
export class UnknownConnectionError extends StoreError {
  override readonly name = 'UnknownConnectionError';
  readonly code = 'unknown_connection';
  constructor(readonly connectionId: string) {
    super(`there is no connection with id ${JSON.stringify(connectionId)}`);
  }
}
