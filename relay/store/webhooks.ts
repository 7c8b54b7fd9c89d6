import { randomBytes } from 'node:crypto';
import {
  DeliveryState,
  WEBHOOK_EVENT_TYPES,
  WebhookState,
  type ConnectionRequest,
  type DeliveriesPage,
  type Delivery,
  type DeliveryAttempt,
  type DeliveryLogEntry,
  type Summary,
  type Webhook,
  type WebhookEventType,
  type WebhookMessage,
} from '../../shared/models.js';
import type { StoreContext } from './context.js';
import {
  BadCursorError,
  DeliveryPendingError,
  DeliveryTooLargeError,
  UnknownDeliveryError,
  UnknownWebhookError,
  WebhookDisabledError,
} from './errors.js';
import type { StoredEvent } from './events.js';
import { addMs, toIso, type TimeInput } from './time.js';

/**
 * Outgoing webhooks: subscribers, their signing secrets, and the deliveries (one per message and
 * endpoint) with every attempt made.
 *
 * At-least-once starts here: `fanOut` runs inside the transaction that appends a stored event
 * (events.ts calls it from `append`), so the deliveries that event causes commit together with the
 * change itself, or not at all. The worker (relay/push/webhooks/delivery.ts) sends what is due and
 * records each attempt through `recordAttempt`.
 *
 * Which stored events become which webhook messages:
 * - request.created → request.created, request.updated → request.updated (data: ConnectionRequest)
 * - reply.updated in state sent → reply.sent, in state failed → reply.failed (data: the
 *   ConnectionRequest, whose `reply` is the reply that was sent or failed); queued → nothing
 * - concur.state_changed → concur.state_changed (data: the Summary, counts and Concur's state)
 * - summary → nothing
 * Data comes from the same row mapping as the API (mapping.ts), so a request token cannot appear.
 *
 * Secrets are kept as they are (HMAC needs them); nothing here returns one except `create` and
 * `rotateSecret` (once, for the API's 201/200) and `signingSecrets` (for the worker).
 */

/** Messages over this many bytes are not sent: the delivery is stored as failed, saying why. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** How long a rotated secret keeps signing next to the new one. */
export const PREVIOUS_SECRET_TTL_MS = 24 * 60 * 60 * 1000;
/** Rotated secrets still signing, at most (the oldest go first). */
export const MAX_PREVIOUS_SECRETS = 10;
/** The delivery log shows at most this many attempts per delivery (the newest). */
export const MAX_LOGGED_ATTEMPTS = 50;

export type MessageType = WebhookMessage['type'];

export interface WebhookInput {
  url: string;
  events: readonly WebhookEventType[];
  description?: string | null;
}

export interface WebhookPatch {
  url?: string;
  events?: readonly WebhookEventType[];
  description?: string | null;
  state?: Webhook['state'];
}

export interface WebhookWithSecret {
  webhook: Webhook;
  /** `whsec_` + base64 of 32 random bytes. Shown once. */
  secret: string;
}

/** What the worker needs to send one delivery. Not an API shape. */
export interface OutgoingDelivery {
  id: string;
  webhookId: string;
  url: string;
  messageId: string;
  type: MessageType;
  /** The exact body to send and sign. */
  body: string;
  /** Which chain of attempts this is (1, then + 1 per resend or recovery). */
  chain: number;
  /** Attempts already made in this chain. */
  chainAttempts: number;
}

export type AttemptOutcome = 'succeeded' | 'retry' | 'failed';

export interface AttemptRecord {
  deliveryId: string;
  /** The chain the attempt was made for; a resend in the meantime makes it history only. */
  chain: number;
  startedAt: TimeInput;
  status: number | null;
  durationMs: number;
  responseBody: string | null;
  /** What went wrong with this attempt (null on success). */
  error: string | null;
  outcome: AttemptOutcome;
  /** With outcome `retry`: when to try again. */
  nextAttemptAt?: TimeInput;
  /** The delivery's lastError when it differs from `error` (e.g. "gave up after 8 attempts: …"). */
  lastError?: string | null;
}

export interface AttemptRecorded {
  delivery: Delivery;
  /** When the endpoint's current run of failures began; null after a success. */
  failingSince: string | null;
}

export interface ListDeliveriesQuery {
  state?: Delivery['state'];
  limit: number;
  cursor?: string;
}

export interface StoreViews {
  request(id: string): ConnectionRequest | undefined;
  summary(): Summary;
}

export interface Webhooks {
  fanOut(event: StoredEvent): void;
  create(input: WebhookInput): WebhookWithSecret;
  list(): Webhook[];
  get(id: string): Webhook | undefined;
  update(id: string, patch: WebhookPatch): Webhook;
  remove(id: string): boolean;
  rotateSecret(id: string): WebhookWithSecret;
  signingSecrets(id: string, at: TimeInput): string[];
  disable(id: string, reason: string): Webhook;
  enqueueTest(id: string): Delivery;
  listDeliveries(webhookId: string, query: ListDeliveriesQuery): DeliveriesPage;
  getDelivery(webhookId: string, deliveryId: string): DeliveryLogEntry | undefined;
  resend(webhookId: string, deliveryId: string): Delivery;
  recover(webhookId: string, since: TimeInput): number;
  due(now: TimeInput, limit: number): OutgoingDelivery[];
  nextDueAt(after?: TimeInput): string | null;
  recordAttempt(record: AttemptRecord): AttemptRecorded | undefined;
  counts(): Record<Delivery['state'], number>;
  prune(olderThan: TimeInput): number;
}

// ---- rows ----

interface WebhookRow {
  id: string;
  url: string;
  events: string;
  description: string | null;
  state: string;
  disabled_reason: string | null;
  failing_since: string | null;
  created_at: string;
}

interface DeliveryRow {
  seq: number;
  id: string;
  webhook_id: string;
  message_id: string;
  type: string;
  body_bytes: number;
  state: string;
  attempts: number;
  chain: number;
  chain_attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  created_at: string;
  updated_at: string;
}

interface AttemptRow {
  attempt: number;
  started_at: string;
  status: number | null;
  duration_ms: number;
  response_body: string | null;
  error: string | null;
  next_attempt_at: string | null;
}

const WEBHOOK_COLUMNS = 'id, url, events, description, state, disabled_reason, failing_since, created_at';
const DELIVERY_COLUMNS =
  'seq, id, webhook_id, message_id, type, body_bytes, state, attempts, chain, chain_attempts, last_status, last_error, next_attempt_at, created_at, updated_at';

const MESSAGE_TYPES: readonly MessageType[] = [...WEBHOOK_EVENT_TYPES, 'webhook.test'];

function readEvents(json: string): WebhookEventType[] {
  try {
    const value: unknown = JSON.parse(json);
    if (!Array.isArray(value)) return [];
    return WEBHOOK_EVENT_TYPES.filter((type) => value.includes(type));
  } catch {
    return [];
  }
}

function toWebhook(row: WebhookRow): Webhook {
  const state = WebhookState.safeParse(row.state);
  return {
    id: row.id,
    url: row.url,
    events: readEvents(row.events),
    description: row.description,
    state: state.success ? state.data : 'disabled',
    disabledReason: row.disabled_reason,
    createdAt: row.created_at,
  };
}

function toDelivery(row: DeliveryRow): Delivery | undefined {
  const type = MESSAGE_TYPES.find((known) => known === row.type);
  const state = DeliveryState.safeParse(row.state);
  if (type === undefined || !state.success) return undefined;
  return {
    id: row.id,
    webhookId: row.webhook_id,
    messageId: row.message_id,
    type,
    state: state.data,
    attempts: row.attempts,
    lastStatus: row.last_status,
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at,
    updatedAt: row.updated_at,
  };
}

function toAttempt(row: AttemptRow): DeliveryAttempt {
  return {
    attempt: row.attempt,
    at: row.started_at,
    status: row.status,
    durationMs: row.duration_ms,
    responseBody: row.response_body,
    error: row.error,
    nextAttemptAt: row.next_attempt_at,
  };
}

/** `<prefix>_` + 16 base64url characters (96 random bits): no `.`, as the webhook-id must not have one. */
export function newId(prefix: 'wh' | 'dlv' | 'msg'): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

/** `whsec_` + base64 of 32 random bytes: the Standard Webhooks form (24–64 bytes). */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

function encodeCursor(seq: number): string {
  return Buffer.from(String(seq), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): number {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) throw new BadCursorError();
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[1-9]\d{0,14}$/.test(text)) throw new BadCursorError();
  return Number(text);
}

/** The webhook message type a stored event becomes, or undefined for none. */
export function webhookTypeOf(event: StoredEvent): WebhookEventType | undefined {
  switch (event.type) {
    case 'request.created':
    case 'request.updated':
    case 'concur.state_changed':
      return event.type;
    case 'reply.updated':
      if (event.data.reply.state === 'sent') return 'reply.sent';
      if (event.data.reply.state === 'failed') return 'reply.failed';
      return undefined;
    case 'summary':
      return undefined;
  }
}

function tooLargeMessage(bytes: number): string {
  return `the message is ${bytes} bytes, over the ${MAX_MESSAGE_BYTES / 1024} KiB limit for webhook messages; it was not sent`;
}

export function createWebhooks(ctx: StoreContext, views: StoreViews): Webhooks {
  const { db } = ctx;

  // ---- webhooks and secrets ----
  const insertWebhook = db.prepare<[{ id: string; url: string; events: string; description: string | null; now: string }]>(`
    INSERT INTO webhooks (id, url, events, description, state, disabled_reason, failing_since, created_at, updated_at)
    VALUES (@id, @url, @events, @description, 'enabled', NULL, NULL, @now, @now)`);
  const selectWebhook = db.prepare<[string], WebhookRow>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?`);
  const selectWebhooks = db.prepare<[], WebhookRow>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at, id`);
  const selectEnabled = db.prepare<[], { id: string; events: string }>(
    "SELECT id, events FROM webhooks WHERE state = 'enabled' ORDER BY created_at, id",
  );
  const updateWebhook = db.prepare<
    [{ id: string; url: string; events: string; description: string | null; state: string; reason: string | null; failing: string | null; now: string }]
  >(`
    UPDATE webhooks SET url = @url, events = @events, description = @description, state = @state,
           disabled_reason = @reason, failing_since = @failing, updated_at = @now
    WHERE id = @id`);
  const deleteWebhook = db.prepare<[string]>('DELETE FROM webhooks WHERE id = ?');
  const setFailing = db.prepare<[{ id: string; at: string }]>(
    'UPDATE webhooks SET failing_since = COALESCE(failing_since, @at) WHERE id = @id',
  );
  const clearFailing = db.prepare<[string]>('UPDATE webhooks SET failing_since = NULL WHERE id = ?');

  const insertSecret = db.prepare<[string, string, string]>(
    'INSERT INTO webhook_secrets (webhook_id, secret, created_at, expires_at) VALUES (?, ?, ?, NULL)',
  );
  const retireCurrent = db.prepare<[{ id: string; expires: string }]>(
    'UPDATE webhook_secrets SET expires_at = @expires WHERE webhook_id = @id AND expires_at IS NULL',
  );
  const deleteExpired = db.prepare<[{ id: string; now: string }]>(
    'DELETE FROM webhook_secrets WHERE webhook_id = @id AND expires_at IS NOT NULL AND expires_at <= @now',
  );
  const selectPrevious = db.prepare<[string], { id: number }>(
    'SELECT id FROM webhook_secrets WHERE webhook_id = ? AND expires_at IS NOT NULL ORDER BY id DESC',
  );
  const deleteSecret = db.prepare<[number]>('DELETE FROM webhook_secrets WHERE id = ?');
  const selectSigning = db.prepare<[{ id: string; at: string }], { secret: string }>(`
    SELECT secret FROM webhook_secrets
    WHERE webhook_id = @id AND (expires_at IS NULL OR expires_at > @at)
    ORDER BY id DESC`);

  // ---- deliveries ----
  const insertDelivery = db.prepare<
    [{ id: string; webhook: string; message: string; type: string; body: string; bytes: number; state: string; error: string | null; next: string | null; now: string }]
  >(`
    INSERT INTO deliveries (id, webhook_id, message_id, type, body, body_bytes, state, attempts, chain, chain_attempts,
                            last_status, last_error, next_attempt_at, created_at, updated_at)
    VALUES (@id, @webhook, @message, @type, @body, @bytes, @state, 0, 1, 0, NULL, @error, @next, @now, @now)`);
  const selectDelivery = db.prepare<[string], DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = ?`);
  const selectPage = db.prepare<[{ webhook: string; state: string | null; before: number; limit: number }], DeliveryRow>(`
    SELECT ${DELIVERY_COLUMNS} FROM deliveries
    WHERE webhook_id = @webhook AND (@state IS NULL OR state = @state) AND seq < @before
    ORDER BY seq DESC LIMIT @limit`);
  const selectAttempts = db.prepare<[number, number], AttemptRow>(`
    SELECT attempt, started_at, status, duration_ms, response_body, error, next_attempt_at FROM delivery_attempts
    WHERE delivery_seq = ? ORDER BY attempt DESC LIMIT ?`);
  const restart = db.prepare<[{ seq: number; now: string }]>(`
    UPDATE deliveries SET state = 'pending', chain = chain + 1, chain_attempts = 0, next_attempt_at = @now, updated_at = @now
    WHERE seq = @seq`);
  const restartFailed = db.prepare<[{ webhook: string; since: string; max: number; now: string }]>(`
    UPDATE deliveries SET state = 'pending', chain = chain + 1, chain_attempts = 0, next_attempt_at = @now, updated_at = @now
    WHERE webhook_id = @webhook AND state = 'failed' AND created_at >= @since AND body_bytes <= @max`);
  const failPending = db.prepare<[{ webhook: string; error: string; now: string }]>(`
    UPDATE deliveries SET state = 'failed', next_attempt_at = NULL, last_error = @error, updated_at = @now
    WHERE webhook_id = @webhook AND state = 'pending'`);
  // The oldest due delivery of each enabled endpoint: one slow endpoint never holds up another.
  const selectDue = db.prepare<[{ now: string; limit: number }], DeliveryRow & { url: string; body: string }>(`
    SELECT d.seq, d.id, d.webhook_id, d.message_id, d.type, d.body, d.body_bytes, d.state, d.attempts, d.chain,
           d.chain_attempts, d.last_status, d.last_error, d.next_attempt_at, d.created_at, d.updated_at, w.url
    FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.state = 'pending' AND d.next_attempt_at <= @now AND w.state = 'enabled'
      AND d.seq = (SELECT x.seq FROM deliveries x
                   WHERE x.webhook_id = d.webhook_id AND x.state = 'pending' AND x.next_attempt_at <= @now
                   ORDER BY x.next_attempt_at, x.seq LIMIT 1)
    ORDER BY d.next_attempt_at, d.seq LIMIT @limit`);
  const selectNextDue = db.prepare<[string], { at: string | null }>(`
    SELECT MIN(d.next_attempt_at) AS at FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.state = 'pending' AND w.state = 'enabled' AND d.next_attempt_at > ?`);
  const insertAttempt = db.prepare<
    [{ seq: number; attempt: number; at: string; status: number | null; duration: number; body: string | null; error: string | null; next: string | null }]
  >(`
    INSERT INTO delivery_attempts (delivery_seq, attempt, started_at, status, duration_ms, response_body, error, next_attempt_at)
    VALUES (@seq, @attempt, @at, @status, @duration, @body, @error, @next)`);
  const updateAfterAttempt = db.prepare<
    [{ seq: number; state: string; status: number | null; error: string | null; next: string | null; now: string; chainStep: number }]
  >(`
    UPDATE deliveries SET state = @state, attempts = attempts + 1, chain_attempts = chain_attempts + @chainStep,
           last_status = @status, last_error = @error, next_attempt_at = @next, updated_at = @now
    WHERE seq = @seq`);
  const selectCounts = db.prepare<[], { state: string; n: number }>('SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state');
  const deleteFinished = db.prepare<[string]>(
    "DELETE FROM deliveries WHERE state IN ('succeeded', 'failed') AND updated_at < ?",
  );

  function loadWebhook(id: string): WebhookRow {
    const row = selectWebhook.get(id);
    if (row === undefined) throw new UnknownWebhookError(id);
    return row;
  }

  function loadDelivery(webhookId: string, deliveryId: string): DeliveryRow {
    loadWebhook(webhookId);
    const row = selectDelivery.get(deliveryId);
    if (row === undefined || row.webhook_id !== webhookId) throw new UnknownDeliveryError(webhookId, deliveryId);
    return row;
  }

  function deliveryOf(row: DeliveryRow | undefined): Delivery {
    const delivery = row === undefined ? undefined : toDelivery(row);
    if (delivery === undefined) throw new Error('a delivery row could not be read');
    return delivery;
  }

  function reloadDelivery(id: string): Delivery {
    return deliveryOf(selectDelivery.get(id));
  }

  /** Stores one delivery of `body` to `webhookId`; a body over the limit is stored as failed. */
  function enqueue(webhookId: string, messageId: string, type: MessageType, body: string): string {
    const bytes = Buffer.byteLength(body, 'utf8');
    const tooLarge = bytes > MAX_MESSAGE_BYTES;
    const id = newId('dlv');
    const now = ctx.now();
    insertDelivery.run({
      id,
      webhook: webhookId,
      message: messageId,
      type,
      body: tooLarge ? '' : body,
      bytes,
      state: tooLarge ? 'failed' : 'pending',
      error: tooLarge ? tooLargeMessage(bytes) : null,
      next: tooLarge ? null : now,
      now,
    });
    return id;
  }

  function messageBody(type: MessageType, timestamp: string, data: unknown): string {
    const message: WebhookMessage = { type, timestamp, data };
    return JSON.stringify(message);
  }

  function dataFor(event: StoredEvent): unknown {
    switch (event.type) {
      case 'request.created':
      case 'request.updated':
        return event.data;
      case 'reply.updated':
        return views.request(event.data.requestId);
      case 'concur.state_changed':
        return views.summary();
      case 'summary':
        return undefined;
    }
  }

  function disableRow(row: WebhookRow, reason: string): void {
    const now = ctx.now();
    updateWebhook.run({
      id: row.id,
      url: row.url,
      events: row.events,
      description: row.description,
      state: 'disabled',
      reason,
      failing: row.failing_since,
      now,
    });
    failPending.run({ webhook: row.id, error: `not sent: the webhook was disabled (${reason})`, now });
  }

  function withSecret(row: WebhookRow, secret: string): WebhookWithSecret {
    return { webhook: toWebhook(row), secret };
  }

  return {
    fanOut(event) {
      const type = webhookTypeOf(event);
      if (type === undefined) return;
      const subscribers = selectEnabled.all().filter((row) => readEvents(row.events).includes(type));
      if (subscribers.length === 0) return;
      const data = dataFor(event);
      if (data === undefined) return;
      const body = messageBody(type, event.createdAt, data);
      // One message id per event: every endpoint that gets it sees the same webhook-id.
      const messageId = newId('msg');
      for (const subscriber of subscribers) enqueue(subscriber.id, messageId, type, body);
    },

    create(input) {
      return ctx.tx(() => {
        const id = newId('wh');
        const now = ctx.now();
        insertWebhook.run({
          id,
          url: input.url,
          events: JSON.stringify([...new Set(input.events)]),
          description: input.description === undefined || input.description === '' ? null : input.description,
          now,
        });
        const secret = newSecret();
        insertSecret.run(id, secret, now);
        return withSecret(loadWebhook(id), secret);
      });
    },

    list() {
      return selectWebhooks.all().map(toWebhook);
    },

    get(id) {
      const row = selectWebhook.get(id);
      return row === undefined ? undefined : toWebhook(row);
    },

    update(id, patch) {
      return ctx.tx(() => {
        const before = loadWebhook(id);
        const after: WebhookRow = {
          ...before,
          url: patch.url ?? before.url,
          events: patch.events === undefined ? before.events : JSON.stringify([...new Set(patch.events)]),
          description:
            patch.description === undefined ? before.description : patch.description === '' ? null : patch.description,
        };
        if (patch.state === 'enabled' && before.state !== 'enabled') {
          after.state = 'enabled';
          after.disabled_reason = null;
          after.failing_since = null;
        }
        updateWebhook.run({
          id,
          url: after.url,
          events: after.events,
          description: after.description,
          state: after.state,
          reason: after.disabled_reason,
          failing: after.failing_since,
          now: ctx.now(),
        });
        if (patch.state === 'disabled' && before.state !== 'disabled') {
          disableRow(loadWebhook(id), `disabled through the API at ${ctx.now()}`);
        }
        return toWebhook(loadWebhook(id));
      });
    },

    remove(id) {
      return deleteWebhook.run(id).changes > 0;
    },

    rotateSecret(id) {
      return ctx.tx(() => {
        const row = loadWebhook(id);
        const now = ctx.now();
        deleteExpired.run({ id, now });
        retireCurrent.run({ id, expires: addMs(now, PREVIOUS_SECRET_TTL_MS) });
        for (const old of selectPrevious.all(id).slice(MAX_PREVIOUS_SECRETS)) deleteSecret.run(old.id);
        const secret = newSecret();
        insertSecret.run(id, secret, now);
        return withSecret(row, secret);
      });
    },

    signingSecrets(id, at) {
      return selectSigning.all({ id, at: toIso(at) }).map((row) => row.secret);
    },

    disable(id, reason) {
      return ctx.tx(() => {
        const row = loadWebhook(id);
        if (row.state !== 'disabled') disableRow(row, reason);
        return toWebhook(loadWebhook(id));
      });
    },

    enqueueTest(id) {
      return ctx.tx(() => {
        const row = loadWebhook(id);
        if (row.state !== 'enabled') throw new WebhookDisabledError(id);
        const now = ctx.now();
        const body = messageBody('webhook.test', now, {
          message: 'A test event from TripLink Relay: this endpoint is subscribed and the signature can be verified.',
          webhook: toWebhook(row),
        });
        return reloadDelivery(enqueue(id, newId('msg'), 'webhook.test', body));
      });
    },

    listDeliveries(webhookId, { state, limit, cursor }) {
      loadWebhook(webhookId);
      const size = Math.max(1, Math.trunc(Number.isFinite(limit) ? limit : 1));
      const before = cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(cursor);
      const rows = selectPage.all({ webhook: webhookId, state: state ?? null, before, limit: size + 1 });
      const more = rows.length > size;
      const page = more ? rows.slice(0, size) : rows;
      const last = page[page.length - 1];
      return {
        items: page.flatMap((row) => {
          const delivery = toDelivery(row);
          if (delivery === undefined) return [];
          const attemptLog = selectAttempts.all(row.seq, MAX_LOGGED_ATTEMPTS).reverse().map(toAttempt);
          return [{ ...delivery, createdAt: row.created_at, attemptLog }];
        }),
        nextCursor: more && last !== undefined ? encodeCursor(last.seq) : null,
      };
    },

    getDelivery(webhookId, deliveryId) {
      const row = selectDelivery.get(deliveryId);
      if (row === undefined || row.webhook_id !== webhookId) return undefined;
      const delivery = toDelivery(row);
      if (delivery === undefined) return undefined;
      const attemptLog = selectAttempts.all(row.seq, MAX_LOGGED_ATTEMPTS).reverse().map(toAttempt);
      return { ...delivery, createdAt: row.created_at, attemptLog };
    },

    resend(webhookId, deliveryId) {
      return ctx.tx(() => {
        const row = loadDelivery(webhookId, deliveryId);
        if (loadWebhook(webhookId).state !== 'enabled') throw new WebhookDisabledError(webhookId);
        if (row.state === 'pending') throw new DeliveryPendingError(deliveryId);
        if (row.body_bytes > MAX_MESSAGE_BYTES) throw new DeliveryTooLargeError(deliveryId, MAX_MESSAGE_BYTES);
        restart.run({ seq: row.seq, now: ctx.now() });
        return reloadDelivery(deliveryId);
      });
    },

    recover(webhookId, since) {
      return ctx.tx(() => {
        if (loadWebhook(webhookId).state !== 'enabled') throw new WebhookDisabledError(webhookId);
        return restartFailed.run({ webhook: webhookId, since: toIso(since), max: MAX_MESSAGE_BYTES, now: ctx.now() }).changes;
      });
    },

    due(now, limit) {
      const rows = selectDue.all({ now: toIso(now), limit: Math.max(1, Math.trunc(Number.isFinite(limit) ? limit : 1)) });
      return rows.flatMap((row) => {
        const type = MESSAGE_TYPES.find((known) => known === row.type);
        if (type === undefined) return [];
        return [
          {
            id: row.id,
            webhookId: row.webhook_id,
            url: row.url,
            messageId: row.message_id,
            type,
            body: row.body,
            chain: row.chain,
            chainAttempts: row.chain_attempts,
          },
        ];
      });
    },

    nextDueAt(after) {
      // Every stored time is later than '' (see time.ts): no `after` means any pending delivery.
      return selectNextDue.get(after === undefined ? '' : toIso(after))?.at ?? null;
    },

    recordAttempt(record) {
      return ctx.tx(() => {
        const row = selectDelivery.get(record.deliveryId);
        if (row === undefined) return undefined;
        const current = row.state === 'pending' && row.chain === record.chain;
        const startedAt = toIso(record.startedAt);
        const next = current && record.outcome === 'retry' && record.nextAttemptAt !== undefined ? toIso(record.nextAttemptAt) : null;
        insertAttempt.run({
          seq: row.seq,
          attempt: row.attempts + 1,
          at: startedAt,
          status: record.status,
          duration: Math.max(0, Math.round(record.durationMs)),
          body: record.responseBody,
          error: record.error,
          next,
        });
        // A success always counts (the endpoint has the message); a failure only moves the chain it was made for.
        const moves = current || record.outcome === 'succeeded';
        const state = moves ? (record.outcome === 'retry' ? (next === null ? 'failed' : 'pending') : record.outcome) : row.state;
        updateAfterAttempt.run({
          seq: row.seq,
          state,
          status: record.status,
          error: record.outcome === 'succeeded' ? null : (record.lastError ?? record.error),
          next: moves ? next : row.next_attempt_at,
          now: ctx.now(),
          chainStep: current ? 1 : 0,
        });
        if (record.outcome === 'succeeded') clearFailing.run(row.webhook_id);
        else setFailing.run({ id: row.webhook_id, at: startedAt });
        const webhook = selectWebhook.get(row.webhook_id);
        return { delivery: reloadDelivery(row.id), failingSince: webhook?.failing_since ?? null };
      });
    },

    counts() {
      const counts: Record<Delivery['state'], number> = { pending: 0, succeeded: 0, failed: 0 };
      for (const { state, n } of selectCounts.all()) {
        const known = DeliveryState.safeParse(state);
        if (known.success) counts[known.data] += n;
      }
      return counts;
    },

    prune(olderThan) {
      return deleteFinished.run(toIso(olderThan)).changes;
    },
  };
}
