import { UnknownWebhookError } from '../errors.js';
import type { Audit, Webhooks } from '../index.js';
import { placeOf, WEBHOOK_SECRET } from '../sealed-columns.js';
import { addMs, toIso } from '../time.js';
import {
  descriptionOf,
  disabledThroughApi,
  endpointOf,
  eventsText,
  MAX_PREVIOUS_SECRETS,
  newId,
  newSecret,
  patchedRow,
  PREVIOUS_SECRET_TTL_MS,
  readEvents,
  toWebhook,
  updateDetails,
  WEBHOOK_COLUMNS,
  type WebhookRow,
} from '../webhook-rows.js';
import type { PgContext } from './context.js';
import { ADVISORY_LOCK } from './locks.js';

/**
 * Webhook subscribers and their signing secrets on PostgreSQL (the twin of ../webhooks.ts).
 *
 * Every change reads the webhook's row `FOR NO KEY UPDATE`: relays changing one webhook at once
 * (an update through one, a disable by another's delivery worker) take turns, each on the row as
 * the other left it, where READ COMMITTED alone would let the later write undo the earlier. Not
 * `FOR UPDATE`: that would also block the key-share lock of a delivery inserted for the webhook
 * by an event's append, which holds the events' lock this change's audit line waits for.
 *
 * `onDisabled` listeners run inside the disabling transaction (deliveries fail their pending
 * messages in it), so they are awaited there; nothing outside the store listens, so there is
 * nothing to tell the other relays.
 */

/** Heard inside the transaction that disables a webhook; may answer a promise, which the transaction waits for. */
export type PgDisabledListener = (webhookId: string, reason: string) => void | Promise<void>;

/** The webhooks part as its view, its listeners allowed to answer a promise (deliveries' writes). */
export interface PgWebhooks extends Webhooks {
  onDisabled(listener: PgDisabledListener): void;
}

export function createPgWebhooks(ctx: PgContext, audit: Pick<Audit, 'append'>): PgWebhooks {
  const disabledListeners: PgDisabledListener[] = [];

  const find = async (id: string, lock = false): Promise<WebhookRow | undefined> =>
    (await ctx.query<WebhookRow>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1${lock ? ' FOR NO KEY UPDATE' : ''}`, [id])).rows[0];

  async function load(id: string, lock = false): Promise<WebhookRow> {
    const row = await find(id, lock);
    if (row === undefined) throw new UnknownWebhookError(id);
    return row;
  }

  async function write(row: WebhookRow): Promise<void> {
    await ctx.query(
      `UPDATE webhooks SET url = $2, events = $3, description = $4, state = $5, disabled_reason = $6, failing_since = $7, updated_at = $8
       WHERE id = $1`,
      [row.id, row.url, row.events, row.description, row.state, row.disabled_reason, row.failing_since, ctx.now()],
    );
  }

  /** A new current secret for webhook `id`, sealed; returned in clear, for the one answer that shows it. */
  async function addSecret(id: string, now: string): Promise<string> {
    const secret = newSecret();
    // The secret's place is its row id: taken from the identity first, so the row goes in sealed.
    const { rows } = await ctx.query<{ id: number }>("SELECT nextval(pg_get_serial_sequence('webhook_secrets', 'id')) AS id");
    const rowId = rows[0]!.id;
    await ctx.query('INSERT INTO webhook_secrets (id, webhook_id, secret, created_at, expires_at) VALUES ($1, $2, $3, $4, NULL)', [
      rowId,
      id,
      ctx.vault.seal(secret, placeOf(WEBHOOK_SECRET, rowId)),
      now,
    ]);
    return secret;
  }

  async function disableRow(row: WebhookRow, reason: string): Promise<void> {
    await write({ ...row, state: 'disabled', disabled_reason: reason });
    for (const listener of disabledListeners) await listener(row.id, reason);
  }

  return {
    create(input, actor) {
      return ctx.tx(async () => {
        const id = newId('wh');
        const now = ctx.now();
        await ctx.query(
          `INSERT INTO webhooks (id, url, events, description, state, disabled_reason, failing_since, created_at, updated_at)
           VALUES ($1, $2, $3, $4, 'enabled', NULL, NULL, $5, $5)`,
          [id, input.url, eventsText(input.events), descriptionOf(input.description ?? null), now],
        );
        const secret = await addSecret(id, now);
        const webhook = toWebhook(await load(id));
        await audit.append({ actor, action: 'webhook.created', target: id, details: { endpoint: endpointOf(webhook.url), events: webhook.events } });
        return { webhook, secret };
      });
    },

    async list() {
      return (await ctx.query<WebhookRow>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at, id`)).rows.map(toWebhook);
    },

    async get(id) {
      const row = await find(id);
      return row === undefined ? undefined : toWebhook(row);
    },

    update(id, patch, actor) {
      return ctx.tx(async () => {
        const before = await load(id, true);
        await write(patchedRow(before, patch));
        if (patch.state === 'disabled' && before.state !== 'disabled') await disableRow(await load(id), disabledThroughApi(ctx.now()));
        await audit.append({ actor, action: 'webhook.updated', target: id, details: updateDetails(patch) });
        return toWebhook(await load(id));
      });
    },

    remove(id, actor) {
      return ctx.tx(async () => {
        // The audit's lock before the row's: a delete locks the row against the deliveries an
        // event's append (holding that lock) inserts for it, so the other order could deadlock.
        await ctx.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCK.events]);
        const { rows } = await ctx.query<{ url: string }>('DELETE FROM webhooks WHERE id = $1 RETURNING url', [id]);
        if (rows.length === 0) return false;
        await audit.append({ actor, action: 'webhook.deleted', target: id, details: { endpoint: endpointOf(rows[0]!.url) } });
        return true;
      });
    },

    rotateSecret(id, actor) {
      return ctx.tx(async () => {
        // The lock makes rotations of one webhook take turns: each retires the current secret the other made.
        const row = await load(id, true);
        const now = ctx.now();
        await ctx.query('DELETE FROM webhook_secrets WHERE webhook_id = $1 AND expires_at IS NOT NULL AND expires_at <= $2', [id, now]);
        await ctx.query('UPDATE webhook_secrets SET expires_at = $2 WHERE webhook_id = $1 AND expires_at IS NULL', [id, addMs(now, PREVIOUS_SECRET_TTL_MS)]);
        await ctx.query(
          `DELETE FROM webhook_secrets WHERE id IN (
             SELECT id FROM webhook_secrets WHERE webhook_id = $1 AND expires_at IS NOT NULL ORDER BY id DESC OFFSET $2)`,
          [id, MAX_PREVIOUS_SECRETS],
        );
        const secret = await addSecret(id, now);
        await audit.append({ actor, action: 'webhook.secret_rotated', target: id });
        return { webhook: toWebhook(row), secret };
      });
    },

    async signingSecrets(id, at) {
      const { rows } = await ctx.query<{ id: number; secret: string }>(
        `SELECT id, secret FROM webhook_secrets WHERE webhook_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY id DESC`,
        [id, toIso(at)],
      );
      return rows.map((row) => ctx.vault.open(row.secret, placeOf(WEBHOOK_SECRET, row.id)));
    },

    disable(id, reason) {
      return ctx.tx(async () => {
        // Locked: two relays' workers disabling it at once fail its deliveries once, with one reason.
        const row = await load(id, true);
        if (row.state !== 'disabled') await disableRow(row, reason);
        return toWebhook(await load(id));
      });
    },

    async subscribers(type) {
      const { rows } = await ctx.query<{ id: string; events: string }>("SELECT id, events FROM webhooks WHERE state = 'enabled' ORDER BY created_at, id");
      return rows.filter((row) => readEvents(row.events).includes(type)).map((row) => row.id);
    },

    async noteAttempt(id, succeeded, at) {
      const { rows } = succeeded
        ? await ctx.query<{ failing_since: string | null }>('UPDATE webhooks SET failing_since = NULL WHERE id = $1 RETURNING failing_since', [id])
        : await ctx.query<{ failing_since: string | null }>(
            'UPDATE webhooks SET failing_since = COALESCE(failing_since, $2) WHERE id = $1 RETURNING failing_since',
            [id, toIso(at)],
          );
      return rows[0]?.failing_since ?? null;
    },

    onDisabled(listener) {
      disabledListeners.push(listener);
    },
  };
}
