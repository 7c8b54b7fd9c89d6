import { randomBytes } from 'node:crypto';
import { WEBHOOK_EVENT_TYPES, WebhookState, type Webhook, type WebhookEventType } from '../../shared/models.js';

/**
 * The webhooks table's rows as webhooks, and what a change to one decides before it is written:
 * what both databases' webhook parts share (webhooks.ts, postgres/webhooks.ts).
 */

/** How long a rotated secret keeps signing next to the new one. */
export const PREVIOUS_SECRET_TTL_MS = 24 * 60 * 60 * 1000;
/** Rotated secrets still signing, at most (the oldest go first). */
export const MAX_PREVIOUS_SECRETS = 10;

export interface WebhookRow {
  id: string;
  url: string;
  events: string;
  description: string | null;
  state: string;
  disabled_reason: string | null;
  failing_since: string | null;
  created_at: string;
}

export const WEBHOOK_COLUMNS = 'id, url, events, description, state, disabled_reason, failing_since, created_at';

export function readEvents(json: string): WebhookEventType[] {
  try {
    const value: unknown = JSON.parse(json);
    if (!Array.isArray(value)) return [];
    return WEBHOOK_EVENT_TYPES.filter((type) => value.includes(type));
  } catch {
    return [];
  }
}

export function toWebhook(row: WebhookRow): Webhook {
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

/** `<prefix>_` + 16 base64url characters (96 random bits): no `.`, as the webhook-id must not have one. */
export function newId(prefix: 'wh' | 'dlv' | 'msg'): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

/** `whsec_` + base64 of 32 random bytes: the Standard Webhooks form (24–64 bytes). */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** Where a webhook posts, for the audit trail: scheme, host and path only. */
export function endpointOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

/** A description as stored: "" clears it. */
export function descriptionOf(description: string | null): string | null {
  return description === '' ? null : description;
}


/** A webhook's events as stored: JSON, each once. */
export function eventsText(events: readonly WebhookEventType[]): string {
  return JSON.stringify([...new Set(events)]);
}

/** The row `before` with `patch` applied, all but disabling (which the caller does, with its reason and listeners). */
export function patchedRow(before: WebhookRow, patch: WebhookPatchFields): WebhookRow {
  const after: WebhookRow = {
    ...before,
    url: patch.url ?? before.url,
    events: patch.events === undefined ? before.events : eventsText(patch.events),
    description: patch.description === undefined ? before.description : descriptionOf(patch.description),
  };
  if (patch.state === 'enabled' && before.state !== 'enabled') {
    after.state = 'enabled';
    after.disabled_reason = null;
    after.failing_since = null;
  }
  return after;
}

/** The fields a patch may change (WebhookPatch in webhooks.ts). */
export interface WebhookPatchFields {
  url?: string;
  events?: readonly WebhookEventType[];
  description?: string | null;
  state?: Webhook['state'];
}

/** What the audit line of an update says: the patch, its URL as an endpoint. */
export function updateDetails(patch: WebhookPatchFields): Record<string, unknown> {
  const { url, ...rest } = patch;
  return { ...(url === undefined ? {} : { endpoint: endpointOf(url) }), ...rest };
}

/** Why a webhook disabled through the API is disabled. */
export function disabledThroughApi(now: string): string {
  return `disabled through the API at ${now}`;
}
