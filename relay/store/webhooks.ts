import type { Webhook, WebhookEventType } from '../../shared/models.js';
import type { Actor, Audit } from './audit.js';
import type { StoreContext } from './context.js';
import { UnknownWebhookError } from './errors.js';
import { placeOf, WEBHOOK_SECRET } from './sealed-columns.js';
import { addMs, toIso, type TimeInput } from './time.js';
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
  type WebhookPatchFields,
  type WebhookRow,
} from './webhook-rows.js';

export { newId };

/**
 * Webhook subscribers and their signing secrets (the `webhooks` and `webhook_secrets` tables).
 * What is sent to them, and every attempt, is deliveries.ts.
 *
 * Secrets are sealed by the vault (HMAC needs them back, so they cannot be hashed); nothing here
 * returns one except `create` and `rotateSecret` (once, for the API's 201/200) and
 * `signingSecrets` (for the worker), which opens them.
 *
 * What a person does to a webhook (create, update, remove, rotate the secret) is audited with who
 * did it, in the transaction of the change; the audit line names the endpoint without its query
 * or credentials (a receiver may put a token there) and never holds a secret.
 */

export interface WebhookInput {
  url: string;
  events: readonly WebhookEventType[];
  description?: string | null;
}

export type WebhookPatch = WebhookPatchFields;

export interface WebhookWithSecret {
  webhook: Webhook;
  /** `whsec_` + base64 of 32 random bytes. Shown once. */
  secret: string;
}

/** Heard inside the transaction that disables a webhook, with the reason it was given. */
export type DisabledListener = (webhookId: string, reason: string) => void;

export interface Webhooks {
  /** A new enabled webhook and its signing secret (the only time the secret is returned, with rotateSecret). Audited as `webhook.created`. */
  create(input: WebhookInput, actor: Actor): WebhookWithSecret;
  /** Oldest first. */
  list(): Webhook[];
  get(id: string): Webhook | undefined;
  /**
   * Changes url, events, description or state. Disabling fails its pending deliveries (recover
   * them after enabling again); enabling clears the reason and the failure run. Audited as
   * `webhook.updated`. Throws UnknownWebhookError.
   */
  update(id: string, patch: WebhookPatch, actor: Actor): Webhook;
  /** Removes the webhook with its secrets and delivery log; false when there was none. Audited as `webhook.deleted`. */
  remove(id: string, actor: Actor): boolean;
  /** A new current secret; the old one keeps signing for 24 hours. Audited as `webhook.secret_rotated`. Throws UnknownWebhookError. */
  rotateSecret(id: string, actor: Actor): WebhookWithSecret;
  /** The secrets that sign a message sent at `at`: the current one first, then rotated ones not yet expired. */
  signingSecrets(id: string, at: TimeInput): string[];
  /** Disables the webhook (if enabled) saying why; its pending deliveries fail with that reason. */
  disable(id: string, reason: string): Webhook;
  /** Ids of the enabled webhooks subscribed to `type`, oldest first. */
  subscribers(type: WebhookEventType): string[];
  /** Counts an attempt towards the endpoint's run of failures; returns when that run began (null after a success). */
  noteAttempt(id: string, succeeded: boolean, at: TimeInput): string | null;
  /** Adds a listener that runs inside every transaction that disables a webhook (see DisabledListener). */
  onDisabled(listener: DisabledListener): void;
}

function prepare(db: StoreContext['db']) {
  return {
    insert: db.prepare<[{ id: string; url: string; events: string; description: string | null; now: string }]>(`
      INSERT INTO webhooks (id, url, events, description, state, disabled_reason, failing_since, created_at, updated_at)
      VALUES (@id, @url, @events, @description, 'enabled', NULL, NULL, @now, @now)`),
    select: db.prepare<[string], WebhookRow>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?`),
    selectAll: db.prepare<[], WebhookRow>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at, id`),
    selectEnabled: db.prepare<[], { id: string; events: string }>(
      "SELECT id, events FROM webhooks WHERE state = 'enabled' ORDER BY created_at, id",
    ),
    update: db.prepare<
      [{ id: string; url: string; events: string; description: string | null; state: string; reason: string | null; failing: string | null; now: string }]
    >(`
      UPDATE webhooks SET url = @url, events = @events, description = @description, state = @state,
             disabled_reason = @reason, failing_since = @failing, updated_at = @now
      WHERE id = @id`),
    remove: db.prepare<[string]>('DELETE FROM webhooks WHERE id = ?'),
    setFailing: db.prepare<[{ id: string; at: string }]>(
      'UPDATE webhooks SET failing_since = COALESCE(failing_since, @at) WHERE id = @id',
    ),
    clearFailing: db.prepare<[string]>('UPDATE webhooks SET failing_since = NULL WHERE id = ?'),
    // The secret's place is its row id, which only the insert makes: the row goes in with an empty
    // secret and gets the sealed one in the same transaction, so no other reader ever sees it empty.
    insertSecret: db.prepare<[string, string]>(
      "INSERT INTO webhook_secrets (webhook_id, secret, created_at, expires_at) VALUES (?, '', ?, NULL)",
    ),
    setSecret: db.prepare<[string, number]>('UPDATE webhook_secrets SET secret = ? WHERE id = ?'),
    retireCurrent: db.prepare<[{ id: string; expires: string }]>(
      'UPDATE webhook_secrets SET expires_at = @expires WHERE webhook_id = @id AND expires_at IS NULL',
    ),
    deleteExpired: db.prepare<[{ id: string; now: string }]>(
      'DELETE FROM webhook_secrets WHERE webhook_id = @id AND expires_at IS NOT NULL AND expires_at <= @now',
    ),
    selectPrevious: db.prepare<[string], { id: number }>(
      'SELECT id FROM webhook_secrets WHERE webhook_id = ? AND expires_at IS NOT NULL ORDER BY id DESC',
    ),
    deleteSecret: db.prepare<[number]>('DELETE FROM webhook_secrets WHERE id = ?'),
    selectSigning: db.prepare<[{ id: string; at: string }], { id: number; secret: string }>(`
      SELECT id, secret FROM webhook_secrets
      WHERE webhook_id = @id AND (expires_at IS NULL OR expires_at > @at)
      ORDER BY id DESC`),
  };
}

export function createWebhooks(ctx: StoreContext, audit: Pick<Audit, 'append'>): Webhooks {
  const sql = prepare(ctx.db);
  const disabledListeners: DisabledListener[] = [];

  function load(id: string): WebhookRow {
    const row = sql.select.get(id);
    if (row === undefined) throw new UnknownWebhookError(id);
    return row;
  }

  function write(row: WebhookRow): void {
    sql.update.run({
      id: row.id,
      url: row.url,
      events: row.events,
      description: row.description,
      state: row.state,
      reason: row.disabled_reason,
      failing: row.failing_since,
      now: ctx.now(),
    });
  }

  /** A new current secret for webhook `id`, sealed; returned in clear, for the one answer that shows it. */
  function addSecret(id: string, now: string): string {
    const secret = newSecret();
    const rowId = Number(sql.insertSecret.run(id, now).lastInsertRowid);
    sql.setSecret.run(ctx.vault.seal(secret, placeOf(WEBHOOK_SECRET, rowId)), rowId);
    return secret;
  }

  function disableRow(row: WebhookRow, reason: string): void {
    write({ ...row, state: 'disabled', disabled_reason: reason });
    for (const listener of disabledListeners) listener(row.id, reason);
  }

  return {
    create(input, actor) {
      return ctx.tx(() => {
        const id = newId('wh');
        const now = ctx.now();
        sql.insert.run({
          id,
          url: input.url,
          events: eventsText(input.events),
          description: descriptionOf(input.description ?? null),
          now,
        });
        const secret = addSecret(id, now);
        const webhook = toWebhook(load(id));
        audit.append({ actor, action: 'webhook.created', target: id, details: { endpoint: endpointOf(webhook.url), events: webhook.events } });
        return { webhook, secret };
      });
    },

    list() {
      return sql.selectAll.all().map(toWebhook);
    },

    get(id) {
      const row = sql.select.get(id);
      return row === undefined ? undefined : toWebhook(row);
    },

    update(id, patch, actor) {
      return ctx.tx(() => {
        const before = load(id);
        write(patchedRow(before, patch));
        if (patch.state === 'disabled' && before.state !== 'disabled') {
          disableRow(load(id), disabledThroughApi(ctx.now()));
        }
        audit.append({ actor, action: 'webhook.updated', target: id, details: updateDetails(patch) });
        return toWebhook(load(id));
      });
    },

    remove(id, actor) {
      return ctx.tx(() => {
        const row = sql.select.get(id);
        if (row === undefined || sql.remove.run(id).changes === 0) return false;
        audit.append({ actor, action: 'webhook.deleted', target: id, details: { endpoint: endpointOf(row.url) } });
        return true;
      });
    },

    rotateSecret(id, actor) {
      return ctx.tx(() => {
        const row = load(id);
        const now = ctx.now();
        sql.deleteExpired.run({ id, now });
        sql.retireCurrent.run({ id, expires: addMs(now, PREVIOUS_SECRET_TTL_MS) });
        for (const old of sql.selectPrevious.all(id).slice(MAX_PREVIOUS_SECRETS)) sql.deleteSecret.run(old.id);
        const secret = addSecret(id, now);
        audit.append({ actor, action: 'webhook.secret_rotated', target: id });
        return { webhook: toWebhook(row), secret };
      });
    },

    signingSecrets(id, at) {
      return sql.selectSigning.all({ id, at: toIso(at) }).map((row) => ctx.vault.open(row.secret, placeOf(WEBHOOK_SECRET, row.id)));
    },

    disable(id, reason) {
      return ctx.tx(() => {
        const row = load(id);
        if (row.state !== 'disabled') disableRow(row, reason);
        return toWebhook(load(id));
      });
    },

    subscribers(type) {
      return sql.selectEnabled
        .all()
        .filter((row) => readEvents(row.events).includes(type))
        .map((row) => row.id);
    },

    noteAttempt(id, succeeded, at) {
      if (succeeded) sql.clearFailing.run(id);
      else sql.setFailing.run({ id, at: toIso(at) });
      return sql.select.get(id)?.failing_since ?? null;
    },

    onDisabled(listener) {
      disabledListeners.push(listener);
    },
  };
}
