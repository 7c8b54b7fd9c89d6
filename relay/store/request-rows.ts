import type { ConnectionRequest, Counts, RequestsPage } from '../../shared/models.js';
import { GROUPS, groupOf, isUserErrorCode, STATUS_CODES, type Group, type VersionRules } from '../../shared/status.js';
import type { Vault } from '../vault/vault.js';
import type { ConcurRecord } from '../concur/record.js';
import { BadCursorError } from './errors.js';
import { emailAddressesJson, readStatus, toConnectionRequest, type RequestViewRow } from './mapping.js';
import { sha256Hex } from './seal-walk.js';
import { placeOf, REQUEST_TOKEN } from './sealed-columns.js';
import { toIso } from './time.js';

/**
 * What the requests part does the same on either database (requests.ts, postgres/requests.ts):
 * comparing a poll with what is stored, the rows an upsert writes, the list's cursors and pages,
 * the counts. No SQL runs here.
 */

/** What Concur last told us about a request: the fields a poll is compared against. */
export interface ConcurRow {
  uri: string | null;
  first_name: string | null;
  middle_name: string | null;
  last_name: string | null;
  loyalty_number: string | null;
  discount_code: string | null;
  status: string;
  concur_status: string;
  concur_last_modified: string | null;
  message: string | null;
  user_id: string | null;
  /** JSON array of text (mapping.ts, emailAddressesJson). */
  email_addresses: string;
  /** The token's SHA-256: a poll compares tokens without opening the sealed one. */
  request_token_sha256: string | null;
  request_token_issued_at: string | null;
}

/** A stored request as an upsert reads it: its id and what a poll is compared against. */
export type KnownRow = ConcurRow & { id: string };

/** The columns of KnownRow, for the upsert's lookup. */
export const KNOWN_COLUMNS =
  'id, uri, first_name, middle_name, last_name, loyalty_number, discount_code, status, concur_status, ' +
  'concur_last_modified, message, user_id, email_addresses, request_token_sha256, request_token_issued_at';

/**
 * A row as an upsert writes it: what Concur said plus the relay's own times, and the token sealed
 * (its place is the request's id). An update writes the token only when it changed (`new_token`
 * 1): sealing the same token again would only rewrite it.
 */
export type RequestWrite = KnownRow & { last_modified: string; updated_at: string; request_token: string | null; new_token: 0 | 1 };
export type RequestInsert = RequestWrite & { first_seen_at: string };

/**
 * The columns an update writes from a RequestWrite (the token only when it is new: `new_token`);
 * an insert writes these, the id and first_seen_at.
 */
export const UPDATED_COLUMNS = [
  'uri',
  'first_name',
  'middle_name',
  'last_name',
  'loyalty_number',
  'discount_code',
  'status',
  'concur_status',
  'concur_last_modified',
  'message',
  'user_id',
  'email_addresses',
  'request_token',
  'request_token_sha256',
  'request_token_issued_at',
  'last_modified',
  'updated_at',
] as const satisfies ReadonlyArray<keyof RequestWrite>;
export const INSERTED_COLUMNS = ['id', ...UPDATED_COLUMNS, 'first_seen_at'] as const satisfies ReadonlyArray<keyof RequestInsert>;

/** Writes a RequestInsert (named parameters). */
export const REQUEST_INSERT = `
    INSERT INTO requests (${INSERTED_COLUMNS.join(', ')}, retries)
    VALUES (${INSERTED_COLUMNS.map((column) => `@${column}`).join(', ')}, 0)`;

/** Writes a RequestWrite over the stored row (named parameters). */
export const REQUEST_UPDATE = `
    UPDATE requests SET ${UPDATED_COLUMNS.map((column) =>
      column === 'request_token'
        ? 'request_token = CASE WHEN @new_token = 1 THEN @request_token ELSE request_token END'
        : `${column} = @${column}`,
    ).join(', ')}
    WHERE id = @id`;

/** What one record of a poll does to the store: nothing, a new row, or a changed one. */
export type PlannedWrite = { kind: 'insert'; write: RequestInsert } | { kind: 'update'; write: RequestWrite } | undefined;

const tokenSha256 = (token: string | null) => (token === null ? null : sha256Hex(token));

/** Whether a poll shows anything of `before` changed at Concur (`tokenSha256`: the record's token's). */
function changed(before: ConcurRow, record: ConcurRecord, tokenSha256: string | null, lastModified: string | null): boolean {
  return (
    before.uri !== record.uri ||
    before.first_name !== record.firstName ||
    before.middle_name !== record.middleName ||
    before.last_name !== record.lastName ||
    before.loyalty_number !== record.loyaltyNumber ||
    before.discount_code !== record.discountCode ||
    before.concur_status !== record.status ||
    before.message !== record.message ||
    before.user_id !== record.userId ||
    before.email_addresses !== emailAddressesJson(record.emailAddresses) ||
    before.request_token_sha256 !== tokenSha256 ||
    (lastModified !== null && lastModified !== before.concur_last_modified)
  );
}

/** The write `record` (seen at `seenAt`) makes of `before` (undefined: a request the store has not seen). */
export function planWrite(record: ConcurRecord, before: KnownRow | undefined, seenAt: string, vault: Vault): PlannedWrite {
  const lastModified = record.lastModified === null ? null : toIso(record.lastModified);
  const sha256 = tokenSha256(record.requestToken);
  if (before !== undefined && !changed(before, record, sha256, lastModified)) return undefined;
  const newToken = before === undefined || before.request_token_sha256 !== sha256;
  const common = {
    id: record.id,
    uri: record.uri,
    first_name: record.firstName,
    middle_name: record.middleName,
    last_name: record.lastName,
    loyalty_number: record.loyaltyNumber,
    discount_code: record.discountCode,
    concur_status: record.status,
    message: record.message,
    user_id: record.userId,
    email_addresses: emailAddressesJson(record.emailAddresses),
    request_token: newToken && record.requestToken !== null ? vault.seal(record.requestToken, placeOf(REQUEST_TOKEN, record.id)) : null,
    request_token_sha256: sha256,
    new_token: newToken ? (1 as const) : (0 as const),
    last_modified: lastModified ?? seenAt,
    updated_at: seenAt,
  };
  if (before === undefined) {
    return {
      kind: 'insert',
      write: {
        ...common,
        status: record.status,
        concur_last_modified: lastModified,
        request_token_issued_at: record.requestToken === null ? null : seenAt,
        first_seen_at: seenAt,
      },
    };
  }
  return {
    kind: 'update',
    write: {
      ...common,
      // A sent reply's code stands until Concur's own status moves on, or (3.2) Concur requeues a
      // request a CREU code popped: it comes back with a new token, waiting for the partner again.
      status: before.concur_status !== record.status || (newToken && isUserErrorCode(before.status)) ? record.status : before.status,
      concur_last_modified: lastModified ?? before.concur_last_modified,
      request_token_issued_at: newToken ? (record.requestToken === null ? null : seenAt) : before.request_token_issued_at,
    },
  };
}

export interface UpsertResult {
  created: ConnectionRequest[];
  updated: ConnectionRequest[];
}

/** A record's write (see planWrite). */
export type Planned = NonNullable<PlannedWrite>;

/**
 * The writes a poll's records make, in their order, cut into batches that never hold an id twice.
 * Each batch is written at once and then announced, the updated requests read back after all its
 * writes: an id twice in one batch would be announced twice with what its last occurrence wrote.
 * `known` (what the store has, by id) follows the writes, so a repeated id is compared with what
 * its previous occurrence wrote.
 */
export function planBatches(records: readonly ConcurRecord[], known: Map<string, KnownRow>, seenAt: string, vault: Vault): Planned[][] {
  const batches: Planned[][] = [];
  let batch: Planned[] = [];
  let ids = new Set<string>();
  for (const record of records) {
    const planned = planWrite(record, known.get(record.id), seenAt, vault);
    if (planned === undefined) continue;
    known.set(record.id, planned.write);
    if (ids.has(record.id)) {
      batches.push(batch);
      batch = [];
      ids = new Set();
    }
    batch.push(planned);
    ids.add(record.id);
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** What a request's write announces. */
export type RequestEvent = { type: 'request.created' | 'request.updated'; data: ConnectionRequest };

/**
 * What a written batch announces, in its records' order, added to `result` too: a new request as
 * written (createdView), a changed one as `updatedView` reads it back (with its replies).
 */
export function announce(
  batch: readonly Planned[],
  limits: VersionRules,
  updatedView: (id: string) => ConnectionRequest | undefined,
  result: UpsertResult,
): RequestEvent[] {
  const events: RequestEvent[] = [];
  for (const planned of batch) {
    if (planned.kind === 'insert') {
      const created = createdView(planned.write, limits);
      if (created === undefined) continue;
      result.created.push(created);
      events.push({ type: 'request.created', data: created });
      continue;
    }
    const updated = updatedView(planned.write.id);
    if (updated === undefined) continue;
    result.updated.push(updated);
    events.push({ type: 'request.updated', data: updated });
  }
  return events;
}

const NO_REPLY = {
  reply_id: null,
  reply_status: null,
  reply_state: null,
  reply_attempts: null,
  reply_last_error: null,
  reply_updated_at: null,
  reply_requested_by: null,
  connection_id: null,
  match_result: null,
  match_note: null,
  match_at: null,
} as const;

/** A new request has no replies and no retries: its view is the row just written, not read back. */
export function createdView(write: RequestInsert, limits: VersionRules): ConnectionRequest | undefined {
  return toConnectionRequest({ ...write, retries: 0, user_errors: 0, ...NO_REPLY }, limits);
}

// ---- cursors: opaque to clients, base64url of JSON [lastModified, id] ----

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The pattern alone lets through month 13, 30 February or hour 25, which the page query would
 * happily compare as text; a time is real when Date reads it back to the very same text.
 */
function isRealTime(text: string): boolean {
  if (!ISO.test(text)) return false;
  const ms = Date.parse(text);
  return Number.isFinite(ms) && new Date(ms).toISOString() === text;
}

export function encodeCursor(lastModified: string, id: string): string {
  return Buffer.from(JSON.stringify([lastModified, id]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): { lastModified: string; id: string } {
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(cursor)) throw new BadCursorError();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new BadCursorError();
  }
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    typeof value[0] !== 'string' ||
    typeof value[1] !== 'string' ||
    !isRealTime(value[0]) ||
    value[1] === ''
  ) {
    throw new BadCursorError();
  }
  return { lastModified: value[0], id: value[1] };
}

function quoted(codes: readonly string[]): string {
  // Constants from the status catalogue (letters and digits only), never client input.
  return codes.map((code) => `'${code.replace(/[^A-Za-z0-9]/g, '')}'`).join(', ');
}

/**
 * The WHERE of a list page over `requests` (see requestViewPage), for each group and whether it
 * starts after a cursor (parameters `@lm` and `@id`).
 */
export function listWheres(): Map<Group | 'all', { first: string; after: string }> {
  const wheres = new Map<Group | 'all', { first: string; after: string }>();
  for (const key of ['all', ...GROUPS] as const) {
    const statuses = key === 'all' ? null : STATUS_CODES.filter((code) => groupOf(code) === key);
    const where = (afterCursor: boolean) =>
      [
        ...(statuses === null ? [] : [`status IN (${quoted(statuses)})`]),
        ...(afterCursor ? ['(last_modified < @lm OR (last_modified = @lm AND id < @id))'] : []),
      ].join(' AND ');
    wheres.set(key, { first: where(false), after: where(true) });
  }
  return wheres;
}

/** A page's size as asked (`limit`); the query reads one more row to know whether another page follows. */
export function pageSize(limit: number): number {
  return Math.max(1, Math.trunc(Number.isFinite(limit) ? limit : 1));
}

/** The page of `size` from the rows read (up to size + 1), with the cursor of the next one. */
export function toPage(rows: readonly RequestViewRow[], size: number, limits: VersionRules): RequestsPage {
  const more = rows.length > size;
  const pageRows = more ? rows.slice(0, size) : rows;
  const last = pageRows[pageRows.length - 1];
  return {
    items: pageRows.flatMap((row) => toConnectionRequest(row, limits) ?? []),
    nextCursor: more && last !== undefined ? encodeCursor(last.last_modified, last.id) : null,
  };
}

/** The counts by group from the rows counted by stored status. */
export function countsOf(rows: ReadonlyArray<{ status: string; n: number }>): Counts {
  const counts: Counts = { pending: 0, failed: 0, connected: 0 };
  for (const { status, n } of rows) {
    const code = readStatus(status);
    if (code !== undefined) counts[groupOf(code)] += n;
  }
  return counts;
}
