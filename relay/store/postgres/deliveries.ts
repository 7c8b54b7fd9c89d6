import type { DeliveryLogEntry, Webhook } from '../../../shared/models.js';
import { ATTEMPT_SQL, MAX_LOGGED_ATTEMPTS, toAttempt, type AttemptRow } from '../delivery-attempts.js';
import {
  decodeCursor,
  DELIVERY_SQL,
  DUE_COLUMNS,
  DUE_WHERE,
  encodeCursor,
  toDelivery,
  type DeliveryRow,
  type DueRow,
  type InsertParams,
  type PageParams,
  type UpdateAfterAttemptParams,
} from '../delivery-rows.js';
import { attemptWrites, countsOf, disabledError, MAX_MESSAGE_BYTES, newDelivery, pageSize, toOutgoing } from '../delivery-rules.js';
import { DeliveryPendingError, DeliveryTooLargeError, UnknownDeliveryError, UnknownWebhookError, WebhookDisabledError } from '../errors.js';
import type { Deliveries, RelayState, Requests } from '../index.js';
import type { ReplyClaims } from '../reply-claims.js';
import { addMs, toIso } from '../time.js';
import { messageBody, messageDataOf, subscribersOnce, testMessageBody, webhookTypeOf, type MessageType } from '../webhook-messages.js';
import { newId } from '../webhook-rows.js';
import type { PgContext } from './context.js';
import type { PgEventLog } from './events.js';
import { named, type NamedStatement } from './named.js';
import type { PgWebhooks } from './webhooks.js';

/**
 * Webhook deliveries on PostgreSQL (the twin of ../deliveries.ts: the fan-out in the event's own
 * transaction, attempts, resends), for several relays running the webhook worker at once.
 *
 * A message must be POSTed by one relay at a time, so `due` claims what it hands out, as the
 * outbox does (../reply-claims.ts): FOR UPDATE SKIP LOCKED lets relays asking at the same moment
 * each take rows none of the others is taking; the claim written in the same statement keeps them
 * away afterwards (READ COMMITTED: a row another relay claimed meanwhile is read again once its
 * lock is granted, and the claim condition, evaluated again, leaves it out). Recording an attempt
 * releases the claim; a relay that dies leaves it until its lease ends (DELIVERY_LEASE_MS), and
 * another relay then sends the delivery again (at least once, with the same webhook-id).
 *
 * Row locks are taken webhook first, then its deliveries, as disabling a webhook does (its row,
 * then failing its pending deliveries): two transactions never hold one each while waiting for
 * the other. Nothing here appends events, so the events lock is only ever held by the append
 * whose fan-out inserts deliveries (which takes no lock a disable holds: a key share on the webhook).
 */

const CLAIM_DUE = `
  WITH due AS (SELECT d.seq AS claim FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
               WHERE ${DUE_WHERE}
               ORDER BY d.next_attempt_at, d.seq LIMIT @limit FOR UPDATE OF d SKIP LOCKED)
  UPDATE deliveries AS d SET claimed_by = @me, lease_until = @until FROM due, webhooks w
  WHERE d.seq = due.claim AND w.id = d.webhook_id
  RETURNING ${DUE_COLUMNS}`;

/**
 * The deliveries of one append's events in one statement ($1: a JSON array of InsertParams, as
 * DELIVERY_SQL.insert takes one), in the array's order, so their seq follows the events' order.
 */
const INSERT_ALL = `
  INSERT INTO deliveries (id, webhook_id, message_id, type, body, body_bytes, state, attempts, chain, chain_attempts,
                          last_status, last_error, next_attempt_at, created_at, updated_at)
  SELECT d.id, d.webhook, d.message, d.type, d.body, d.bytes, d.state, 0, 1, 0, NULL, d.error, d.next, d.now, d.now
  FROM ROWS FROM (json_to_recordset($1::json)
         AS (id text, webhook text, message text, type text, body text, bytes integer, state text, error text, next timestamptz, now timestamptz))
       WITH ORDINALITY AS d (id, webhook, message, type, body, bytes, state, error, next, now, n)
  ORDER BY d.n`;

function statements() {
  const q = DELIVERY_SQL;
  return {
    insert: named<InsertParams>(q.insert),
    select: named<{ id: string }>(q.select),
    selectLocked: named<{ id: string }>(`${q.select} FOR UPDATE`),
    selectPage: named<PageParams>(q.selectPage),
    restart: named<{ seq: number; now: string }>(q.restart),
    restartFailed: named<{ webhook: string; since: string; max: number; now: string }>(q.restartFailed),
    failPending: named<{ webhook: string; error: string; now: string }>(q.failPending),
    claimDue: named<{ now: string; limit: number; me: string; until: string }>(CLAIM_DUE),
    selectNextDue: named<{ after: string; me: string }>(q.selectNextDue),
    updateAfterAttempt: named<UpdateAfterAttemptParams>(q.updateAfterAttempt),
    deleteFinished: named<{ before: string }>(q.deleteFinished),
    insertAttempt: named<AttemptRow & { seq: number }>(ATTEMPT_SQL.insert),
    selectAttempts: named<{ seq: number; limit: number }>(ATTEMPT_SQL.selectLatest),
  };
}

export interface PgDeliveriesDeps {
  events: Pick<PgEventLog, 'onAppendAll'>;
  webhooks: Pick<PgWebhooks, 'get' | 'subscribers' | 'noteAttempt' | 'onDisabled'>;
  requests: Pick<Requests, 'get'>;
  state: Pick<RelayState, 'summary'>;
}

type Statements = ReturnType<typeof statements>;

async function insertOne(ctx: PgContext, sql: Statements, webhookId: string, messageId: string, type: MessageType, body: string): Promise<string> {
  const row = newDelivery(webhookId, messageId, type, body, ctx.now());
  await ctx.query(sql.insert.text, sql.insert.bind(row));
  return row.id;
}

/** See DeliveriesDeps in ../deliveries.ts: both listeners run, awaited, in the transaction that makes the change. */
function listen(ctx: PgContext, sql: Statements, deps: PgDeliveriesDeps): void {
  const views = { request: deps.requests.get, summary: deps.state.summary };
  deps.events.onAppendAll(async (events) => {
    const subscribers = subscribersOnce(deps.webhooks.subscribers);
    const rows: InsertParams[] = [];
    for (const event of events) {
      const type = webhookTypeOf(event);
      if (type === undefined) continue;
      const to = await subscribers(type);
      if (to.length === 0) continue;
      // The views answer promises here: awaited, the data is what they read.
      const data: unknown = await messageDataOf(event, views);
      if (data === undefined) continue;
      const body = messageBody(type, event.createdAt, data);
      // One message id per event: every endpoint that gets it sees the same webhook-id.
      const messageId = newId('msg');
      for (const subscriber of to) rows.push(newDelivery(subscriber, messageId, type, body, ctx.now()));
    }
    if (rows.length > 0) await ctx.query(INSERT_ALL, [JSON.stringify(rows)]);
  });
  deps.webhooks.onDisabled(async (webhookId, reason) => {
    await ctx.query(sql.failPending.text, sql.failPending.bind({ webhook: webhookId, error: disabledError(reason), now: ctx.now() }));
  });
}

export function createPgDeliveries(ctx: PgContext, deps: PgDeliveriesDeps, claims: ReplyClaims): Deliveries {
  const { webhooks } = deps;
  const sql = statements();
  const me = claims.relayId;
  const rowsOf = async <R extends object, P extends object>(statement: NamedStatement<P>, params: P): Promise<R[]> =>
    (await ctx.query<R & Record<string, unknown>>(statement.text, statement.bind(params))).rows;
  const one = async <R extends object, P extends object>(statement: NamedStatement<P>, params: P): Promise<R | undefined> =>
    (await rowsOf<R, P>(statement, params))[0];
  const run = async <P extends object>(statement: NamedStatement<P>, params: P): Promise<number> =>
    (await ctx.query(statement.text, statement.bind(params))).rowCount ?? 0;

  async function sharedWebhook(id: string): Promise<Webhook | undefined> {
    const { rows } = await ctx.query('SELECT 1 FROM webhooks WHERE id = $1 FOR SHARE', [id]);
    return rows.length === 0 ? undefined : webhooks.get(id);
  }

  /**
   * The webhook, which must exist and be enabled; its row share-locked for the rest of the
   * transaction, so a disable by another relay waits until the delivery this queues has committed
   * (and then fails it) rather than missing it.
   */
  async function enabledWebhook(id: string): Promise<Webhook> {
    const webhook = await sharedWebhook(id);
    if (webhook === undefined) throw new UnknownWebhookError(id);
    if (webhook.state !== 'enabled') throw new WebhookDisabledError(id);
    return webhook;
  }

  async function reload(id: string) {
    const row = await one<DeliveryRow, { id: string }>(sql.select, { id });
    const delivery = row === undefined ? undefined : toDelivery(row);
    if (delivery === undefined) throw new Error('a delivery row could not be read');
    return delivery;
  }

  async function logEntry(row: DeliveryRow): Promise<DeliveryLogEntry | undefined> {
    const delivery = toDelivery(row);
    if (delivery === undefined) return undefined;
    const attempts = await rowsOf<AttemptRow, { seq: number; limit: number }>(sql.selectAttempts, { seq: row.seq, limit: MAX_LOGGED_ATTEMPTS });
    return { ...delivery, createdAt: row.created_at, attemptLog: attempts.reverse().map(toAttempt) };
  }

  listen(ctx, sql, deps);

  return {
    enqueueTest(webhookId) {
      return ctx.tx(async () => {
        const webhook = await enabledWebhook(webhookId);
        return reload(await insertOne(ctx, sql, webhookId, newId('msg'), 'webhook.test', testMessageBody(webhook, ctx.now())));
      });
    },

    async list(webhookId, { state, limit, cursor }) {
      if ((await webhooks.get(webhookId)) === undefined) throw new UnknownWebhookError(webhookId);
      const size = pageSize(limit);
      const before = cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(cursor);
      const rows = await rowsOf<DeliveryRow, PageParams>(sql.selectPage, {
        webhook: webhookId,
        state: state ?? null,
        before,
        limit: size + 1,
      });
      const more = rows.length > size;
      const page = more ? rows.slice(0, size) : rows;
      const last = page[page.length - 1];
      const items = await Promise.all(page.map(logEntry));
      return { items: items.flatMap((item) => item ?? []), nextCursor: more && last !== undefined ? encodeCursor(last.seq) : null };
    },

    async get(webhookId, deliveryId) {
      const row = await one<DeliveryRow, { id: string }>(sql.select, { id: deliveryId });
      return row === undefined || row.webhook_id !== webhookId ? undefined : logEntry(row);
    },

    resend(webhookId, deliveryId) {
      return ctx.tx(async () => {
        if ((await sharedWebhook(webhookId)) === undefined) throw new UnknownWebhookError(webhookId);
        const row = await one<DeliveryRow, { id: string }>(sql.selectLocked, { id: deliveryId });
        if (row === undefined || row.webhook_id !== webhookId) throw new UnknownDeliveryError(webhookId, deliveryId);
        await enabledWebhook(webhookId);
        if (row.state === 'pending') throw new DeliveryPendingError(deliveryId);
        if (row.body_bytes > MAX_MESSAGE_BYTES) throw new DeliveryTooLargeError(deliveryId, MAX_MESSAGE_BYTES);
        await run(sql.restart, { seq: row.seq, now: ctx.now() });
        return reload(deliveryId);
      });
    },

    recover(webhookId, since) {
      return ctx.tx(async () => {
        await enabledWebhook(webhookId);
        return run(sql.restartFailed, { webhook: webhookId, since: toIso(since), max: MAX_MESSAGE_BYTES, now: ctx.now() });
      });
    },

    async due(now, limit) {
      const at = toIso(now);
      return toOutgoing(await rowsOf<DueRow, { now: string; limit: number; me: string; until: string }>(sql.claimDue, {
        now: at,
        limit: pageSize(limit),
        me,
        until: addMs(at, claims.leaseMs),
      }));
    },

    async nextDueAt(after) {
      // '-infinity': earlier than every time, as '' is on SQLite.
      const found = await one<{ at: string | null }, { after: string; me: string }>(sql.selectNextDue, { after: after === undefined ? '-infinity' : toIso(after), me });
      return found?.at ?? null;
    },

    recordAttempt(record) {
      return ctx.tx(async () => {
        const found = await one<DeliveryRow, { id: string }>(sql.select, { id: record.deliveryId });
        if (found === undefined) return undefined;
        // The webhook's row before the delivery's (see above); noteAttempt then updates it.
        await ctx.query('SELECT 1 FROM webhooks WHERE id = $1 FOR NO KEY UPDATE', [found.webhook_id]);
        const row = await one<DeliveryRow, { id: string }>(sql.selectLocked, { id: record.deliveryId });
        if (row === undefined) return undefined;
        const { attempt, update, startedAt } = attemptWrites(row, record, ctx.now(), me);
        await run(sql.insertAttempt, { ...attempt, seq: row.seq });
        await run(sql.updateAfterAttempt, update);
        const failingSince = await webhooks.noteAttempt(row.webhook_id, record.outcome === 'succeeded', startedAt);
        return { delivery: await reload(row.id), failingSince };
      });
    },

    async counts() {
      return countsOf((await ctx.query<{ state: string; n: number }>(DELIVERY_SQL.selectCounts)).rows);
    },

    async prune(olderThan) {
      return run(sql.deleteFinished, { before: toIso(olderThan) });
    },
  };
}

/**
 * At close, after the webhook worker has stopped (it waits for its attempts and records them):
 * the deliveries this relay still claims were handed out and never started, so another relay may
 * send them now rather than once the lease has run out (a minute of silence for their endpoints).
 * Were one of them being sent after all, it is sent again: at least once, with the same webhook-id.
 */
export async function releaseDeliveryClaims(ctx: PgContext, claims: ReplyClaims): Promise<number> {
  const released = await ctx.query('UPDATE deliveries SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = $1', [claims.relayId]);
  return released.rowCount ?? 0;
}
