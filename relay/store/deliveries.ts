import { type DeliveriesPage, type Delivery, type DeliveryLogEntry, type Webhook } from '../../shared/models.js';
import type { StoreContext } from './context.js';
import { createDeliveryAttempts } from './delivery-attempts.js';
import { attemptWrites, countsOf, disabledError, MAX_MESSAGE_BYTES, newDelivery, pageSize, toOutgoing } from './delivery-rules.js';
import {
  decodeCursor,
  encodeCursor,
  prepareDeliveries,
  toDelivery,
  type DeliveryRow,
  type DeliveryStatements,
} from './delivery-rows.js';
import {
  DeliveryPendingError,
  DeliveryTooLargeError,
  UnknownDeliveryError,
  UnknownWebhookError,
  WebhookDisabledError,
} from './errors.js';
import type { EventLog } from './events.js';
import type { Requests } from './requests.js';
import type { RelayState } from './state.js';
import type { ReplyClaims } from './reply-claims.js';
import { addMs, toIso, type TimeInput } from './time.js';
import { messageBody, messageDataOf, subscribersOnce, testMessageBody, webhookTypeOf, type MessageType } from './webhook-messages.js';
import { newId, type Webhooks } from './webhooks.js';

/**
 * Webhook deliveries (the `deliveries` table): one per message and endpoint, with every attempt
 * made (delivery-attempts.ts).
 *
 * At-least-once starts here: a stored event is fanned out to its subscribers inside the
 * transaction that appends it, so the deliveries it causes commit together with the change
 * itself, or not at all. The worker (relay/push/webhooks/delivery.ts) sends what is due and
 * records each attempt through `recordAttempt`, which releases the claim `due` made (see
 * postgres/deliveries.ts for several relays; on SQLite the one relay holds every claim).
 */

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

export interface Deliveries {
  /** Queues a `webhook.test` message. Throws UnknownWebhookError, WebhookDisabledError. */
  enqueueTest(webhookId: string): Delivery;
  /** Newest first, with attempts. Throws UnknownWebhookError, BadCursorError. */
  list(webhookId: string, query: ListDeliveriesQuery): DeliveriesPage;
  get(webhookId: string, deliveryId: string): DeliveryLogEntry | undefined;
  /**
   * A new chain of attempts for a finished delivery (same message id, full retry schedule).
   * Throws UnknownWebhookError, UnknownDeliveryError, WebhookDisabledError, DeliveryPendingError, DeliveryTooLargeError.
   */
  resend(webhookId: string, deliveryId: string): Delivery;
  /** Re-queues every failed delivery of the webhook created at or after `since`; returns how many. */
  recover(webhookId: string, since: TimeInput): number;
  /**
   * The oldest due delivery of each enabled webhook, oldest first, claimed by this relay until its
   * lease ends (DELIVERY_LEASE_MS): none of a webhook another relay holds a delivery of.
   */
  due(now: TimeInput, limit: number): OutgoingDelivery[];
  /** When the earliest pending delivery of an enabled webhook is due (only those due after `after`, when given); null when none. */
  nextDueAt(after?: TimeInput): string | null;
  /** Records one attempt and its outcome; undefined when the delivery is gone (its webhook was deleted). */
  recordAttempt(record: AttemptRecord): AttemptRecorded | undefined;
  counts(): Record<Delivery['state'], number>;
  /** Forgets finished (succeeded or failed) deliveries last changed before `olderThan`; returns how many. */
  prune(olderThan: TimeInput): number;
}

/**
 * What deliveries are made from. They subscribe themselves, when created, to the event log and to
 * webhooks being disabled, both inside the transaction that makes the change: the event log and
 * the webhooks are created first and know nothing of deliveries, so the dependency stands here, in
 * the arguments, rather than as a hook assigned after the fact.
 */
export interface DeliveriesDeps {
  events: Pick<EventLog, 'onAppendAll'>;
  webhooks: Pick<Webhooks, 'get' | 'subscribers' | 'noteAttempt' | 'onDisabled'>;
  /** The request a reply message carries. */
  requests: Pick<Requests, 'get'>;
  /** The summary a concur.state_changed message carries. */
  state: Pick<RelayState, 'summary'>;
}

/** Stores one delivery of `body` to `webhookId`; a body over the limit is stored as failed. */
function insertDelivery(ctx: StoreContext, sql: DeliveryStatements, webhookId: string, messageId: string, type: MessageType, body: string): string {
  const row = newDelivery(webhookId, messageId, type, body, ctx.now());
  sql.insert.run(row);
  return row.id;
}

/** Subscribes deliveries to what makes and ends them: see DeliveriesDeps. */
function listen(ctx: StoreContext, sql: DeliveryStatements, deps: DeliveriesDeps): void {
  const views = { request: deps.requests.get, summary: deps.state.summary };
  deps.events.onAppendAll((events) => {
    const subscribers = subscribersOnce(deps.webhooks.subscribers);
    for (const event of events) {
      const type = webhookTypeOf(event);
      if (type === undefined || subscribers(type).length === 0) continue;
      const data = messageDataOf(event, views);
      if (data === undefined) continue;
      const body = messageBody(type, event.createdAt, data);
      // One message id per event: every endpoint that gets it sees the same webhook-id.
      const messageId = newId('msg');
      for (const subscriber of subscribers(type)) insertDelivery(ctx, sql, subscriber, messageId, type, body);
    }
  });
  deps.webhooks.onDisabled((webhookId, reason) => {
    sql.failPending.run({ webhook: webhookId, error: disabledError(reason), now: ctx.now() });
  });
}

/** `claims`: this relay's claims on deliveries (reply-claims.ts deliveryClaims); on SQLite the file's one relay. */
export function createDeliveries(ctx: StoreContext, deps: DeliveriesDeps, claims: ReplyClaims): Deliveries {
  const { webhooks } = deps;
  const me = claims.relayId;
  const sql = prepareDeliveries(ctx.db);
  const attempts = createDeliveryAttempts(ctx);

  function enabledWebhook(id: string): Webhook {
    const webhook = webhooks.get(id);
    if (webhook === undefined) throw new UnknownWebhookError(id);
    if (webhook.state !== 'enabled') throw new WebhookDisabledError(id);
    return webhook;
  }

  function reload(id: string): Delivery {
    const row = sql.select.get({ id });
    const delivery = row === undefined ? undefined : toDelivery(row);
    if (delivery === undefined) throw new Error('a delivery row could not be read');
    return delivery;
  }

  function logEntry(row: DeliveryRow): DeliveryLogEntry | undefined {
    const delivery = toDelivery(row);
    return delivery === undefined ? undefined : { ...delivery, createdAt: row.created_at, attemptLog: attempts.logOf(row.seq) };
  }

  listen(ctx, sql, deps);

  return {
    enqueueTest(webhookId) {
      return ctx.tx(() => {
        const webhook = enabledWebhook(webhookId);
        const body = testMessageBody(webhook, ctx.now());
        return reload(insertDelivery(ctx, sql, webhookId, newId('msg'), 'webhook.test', body));
      });
    },

    list(webhookId, { state, limit, cursor }) {
      if (webhooks.get(webhookId) === undefined) throw new UnknownWebhookError(webhookId);
      const size = pageSize(limit);
      const before = cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(cursor);
      const rows = sql.selectPage.all({ webhook: webhookId, state: state ?? null, before, limit: size + 1 });
      const more = rows.length > size;
      const page = more ? rows.slice(0, size) : rows;
      const last = page[page.length - 1];
      return {
        items: page.flatMap((row) => logEntry(row) ?? []),
        nextCursor: more && last !== undefined ? encodeCursor(last.seq) : null,
      };
    },

    get(webhookId, deliveryId) {
      const row = sql.select.get({ id: deliveryId });
      return row === undefined || row.webhook_id !== webhookId ? undefined : logEntry(row);
    },

    resend(webhookId, deliveryId) {
      return ctx.tx(() => {
        if (webhooks.get(webhookId) === undefined) throw new UnknownWebhookError(webhookId);
        const row = sql.select.get({ id: deliveryId });
        if (row === undefined || row.webhook_id !== webhookId) throw new UnknownDeliveryError(webhookId, deliveryId);
        enabledWebhook(webhookId);
        if (row.state === 'pending') throw new DeliveryPendingError(deliveryId);
        if (row.body_bytes > MAX_MESSAGE_BYTES) throw new DeliveryTooLargeError(deliveryId, MAX_MESSAGE_BYTES);
        sql.restart.run({ seq: row.seq, now: ctx.now() });
        return reload(deliveryId);
      });
    },

    recover(webhookId, since) {
      return ctx.tx(() => {
        enabledWebhook(webhookId);
        return sql.restartFailed.run({ webhook: webhookId, since: toIso(since), max: MAX_MESSAGE_BYTES, now: ctx.now() }).changes;
      });
    },

    due(now, limit) {
      // Claimed as on PostgreSQL (see postgres/deliveries.ts), so both databases behave alike.
      const at = toIso(now);
      return ctx.tx(() => {
        const rows = sql.selectDue.all({ now: at, limit: pageSize(limit), me });
        for (const row of rows) sql.claim.run({ seq: row.seq, me, until: addMs(at, claims.leaseMs) });
        return toOutgoing(rows);
      });
    },

    nextDueAt(after) {
      // Every stored time is later than '' (see time.ts): no `after` means any pending delivery.
      return sql.selectNextDue.get({ after: after === undefined ? '' : toIso(after), me })?.at ?? null;
    },

    recordAttempt(record) {
      return ctx.tx(() => {
        const row = sql.select.get({ id: record.deliveryId });
        if (row === undefined) return undefined;
        const { attempt, update, startedAt } = attemptWrites(row, record, ctx.now(), me);
        attempts.add(row.seq, attempt);
        sql.updateAfterAttempt.run(update);
        const failingSince = webhooks.noteAttempt(row.webhook_id, record.outcome === 'succeeded', startedAt);
        return { delivery: reload(row.id), failingSince };
      });
    },

    counts() {
      return countsOf(sql.selectCounts.all());
    },

    prune(olderThan) {
      return sql.deleteFinished.run({ before: toIso(olderThan) }).changes;
    },
  };
}
