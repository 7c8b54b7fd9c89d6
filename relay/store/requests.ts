import type { ConnectionRequest, Counts, RequestsPage, RequestsQuery } from '../../shared/models.js';
import { GROUPS, groupOf, isUserErrorCode, STATUS_CODES, type Group, type VersionRules } from '../../shared/status.js';
import type { ConcurRecord } from '../concur/record.js';
import type { StoreContext } from './context.js';
import type { Db } from './db.js';
import { BadCursorError } from './errors.js';
import { sha256Hex } from './seal-walk.js';
import { placeOf, REQUEST_TOKEN } from './sealed-columns.js';
import type { EventLog } from './events.js';
import {
  emailAddressesJson,
  readStatus,
  REQUEST_VIEW_SELECT,
  requestViewPage,
  toConnectionRequest,
  type RequestViewRow,
} from './mapping.js';
import { toIso, type TimeInput } from './time.js';

export interface UpsertResult {
  created: ConnectionRequest[];
  updated: ConnectionRequest[];
}

export type ListRequestsQuery = Pick<RequestsQuery, 'group' | 'cursor'> & { limit: number };

/** What Concur last told us about a request: the fields a poll is compared against. */
interface ConcurRow {
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
type KnownRow = ConcurRow & { id: string };

/** Ids read per `SELECT … WHERE id IN (…)` when an upsert looks up what it already has. */
const LOOKUP_CHUNK = 100;

/**
 * A row as an upsert writes it: what Concur said plus the relay's own times, and the token sealed
 * (its place is the request's id). An update writes the token only when it changed (`new_token`
 * 1): sealing the same token again would only rewrite it.
 */
type RequestWrite = KnownRow & { last_modified: string; updated_at: string; request_token: string | null; new_token: 0 | 1 };

const tokenSha256 = (token: string | null) => (token === null ? null : sha256Hex(token));

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

function decodeCursor(cursor: string): { lastModified: string; id: string } {
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

export interface Requests {
  upsertFromConcur(records: readonly ConcurRecord[], seenAt: TimeInput): UpsertResult;
  get(id: string): ConnectionRequest | undefined;
  getRequestToken(id: string): string | null | undefined;
  list(query: ListRequestsQuery): RequestsPage;
  counts(): Counts;
}

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

/** The statements of the requests table, prepared once. */
function prepare(db: Db) {
  // What the store has for a page's ids, read in one statement (one per size of chunk, prepared once).
  const lookups = new Map<number, ReturnType<typeof lookupStatement>>();
  function lookupStatement(size: number) {
    return db.prepare<string[], KnownRow>(`
      SELECT id, uri, first_name, middle_name, last_name, loyalty_number, discount_code, status, concur_status,
             concur_last_modified, message, user_id, email_addresses, request_token_sha256, request_token_issued_at
      FROM requests WHERE id IN (${Array.from({ length: size }, () => '?').join(', ')})`);
  }
  function lookup(ids: readonly string[]): Map<string, KnownRow> {
    const known = new Map<string, KnownRow>();
    for (let from = 0; from < ids.length; from += LOOKUP_CHUNK) {
      const chunk = ids.slice(from, from + LOOKUP_CHUNK);
      let statement = lookups.get(chunk.length);
      if (statement === undefined) {
        statement = lookupStatement(chunk.length);
        lookups.set(chunk.length, statement);
      }
      for (const row of statement.all(...chunk)) known.set(row.id, row);
    }
    return known;
  }
  const insert = db.prepare<[RequestWrite & { first_seen_at: string }]>(`
    INSERT INTO requests (id, uri, first_name, middle_name, last_name, loyalty_number, discount_code, status,
                          concur_status, concur_last_modified, message, user_id, email_addresses, request_token, request_token_sha256,
                          request_token_issued_at, last_modified, first_seen_at, updated_at, retries)
    VALUES (@id, @uri, @first_name, @middle_name, @last_name, @loyalty_number, @discount_code, @status,
            @concur_status, @concur_last_modified, @message, @user_id, @email_addresses, @request_token, @request_token_sha256,
            @request_token_issued_at, @last_modified, @first_seen_at, @updated_at, 0)`);
  const update = db.prepare<[RequestWrite]>(`
    UPDATE requests SET uri = @uri, first_name = @first_name, middle_name = @middle_name, last_name = @last_name,
           loyalty_number = @loyalty_number, discount_code = @discount_code, status = @status,
           concur_status = @concur_status, concur_last_modified = @concur_last_modified, message = @message,
           user_id = @user_id, email_addresses = @email_addresses, request_token = CASE WHEN @new_token = 1 THEN @request_token ELSE request_token END,
           request_token_sha256 = @request_token_sha256, request_token_issued_at = @request_token_issued_at,
           last_modified = @last_modified, updated_at = @updated_at
    WHERE id = @id`);
  const selectView = db.prepare<[string], RequestViewRow>(`${REQUEST_VIEW_SELECT} WHERE q.id = ?`);
  const selectToken = db.prepare<[string], { request_token: string | null }>(
    'SELECT request_token FROM requests WHERE id = ?',
  );
  const selectCounts = db.prepare<[], { status: string; n: number }>(
    'SELECT status, COUNT(*) AS n FROM requests GROUP BY status',
  );

  // Newest lastModified first, ties by id (descending too, so one comparison pages through both).
  // The page is chosen from `requests` alone, then joined to the replies (see requestViewPage).
  type Page = { limit: number; lm?: string; id?: string };
  function listStatement(statuses: readonly string[] | null, afterCursor: boolean) {
    const where = [
      ...(statuses === null ? [] : [`status IN (${quoted(statuses)})`]),
      ...(afterCursor ? ['(last_modified < @lm OR (last_modified = @lm AND id < @id))'] : []),
    ];
    return db.prepare<[Page], RequestViewRow>(requestViewPage(where.join(' AND ')));
  }
  type ListStatement = ReturnType<typeof listStatement>;
  const listStatements = new Map<Group | 'all', { first: ListStatement; after: ListStatement }>();
  for (const key of ['all', ...GROUPS] as const) {
    const statuses = key === 'all' ? null : STATUS_CODES.filter((code) => groupOf(code) === key);
    listStatements.set(key, { first: listStatement(statuses, false), after: listStatement(statuses, true) });
  }

  return {
    lookup,
    insert,
    update,
    selectView,
    selectToken,
    selectCounts,
    listStatements,
  };
}

export function createRequests(ctx: StoreContext, events: Pick<EventLog, 'append'>, limits: VersionRules): Requests {
  const sql = prepare(ctx.db);

  function view(id: string): ConnectionRequest | undefined {
    const row = sql.selectView.get(id);
    return row === undefined ? undefined : toConnectionRequest(row, limits);
  }

  return {
    upsertFromConcur(records, seenAtInput) {
      const seenAt = toIso(seenAtInput);
      return ctx.tx(() => {
        const result: UpsertResult = { created: [], updated: [] };
        // One read for the whole page; the map follows the writes, so an id twice in a page is
        // compared with what its first occurrence wrote.
        const known = sql.lookup([...new Set(records.map((record) => record.id))]);
        for (const record of records) {
          const lastModified = record.lastModified === null ? null : toIso(record.lastModified);
          const before = known.get(record.id);
          const sha256 = tokenSha256(record.requestToken);
          if (before !== undefined && !changed(before, record, sha256, lastModified)) continue;
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
            request_token: newToken && record.requestToken !== null ? ctx.vault.seal(record.requestToken, placeOf(REQUEST_TOKEN, record.id)) : null,
            request_token_sha256: sha256,
            new_token: newToken ? (1 as const) : (0 as const),
            last_modified: lastModified ?? seenAt,
            updated_at: seenAt,
          };
          if (before === undefined) {
            const write = {
              ...common,
              status: record.status,
              concur_last_modified: lastModified,
              request_token_issued_at: record.requestToken === null ? null : seenAt,
              first_seen_at: seenAt,
            };
            sql.insert.run(write);
            known.set(record.id, write);
            // A new request has no replies and no retries: its view is the row just written, not read back.
            const created = toConnectionRequest({ ...write, retries: 0, user_errors: 0, ...NO_REPLY }, limits);
            if (created !== undefined) {
              result.created.push(created);
              events.append('request.created', created);
            }
            continue;
          }
          const write = {
            ...common,
            // A sent reply's code stands until Concur's own status moves on, or (3.2) Concur requeues a
            // request a CREU code popped: it comes back with a new token, waiting for the partner again.
            status: before.concur_status !== record.status || (newToken && isUserErrorCode(before.status)) ? record.status : before.status,
            concur_last_modified: lastModified ?? before.concur_last_modified,
            request_token_issued_at: newToken
              ? record.requestToken === null
                ? null
                : seenAt
              : before.request_token_issued_at,
          };
          sql.update.run(write);
          known.set(record.id, write);
          const updated = view(record.id);
          if (updated !== undefined) {
            result.updated.push(updated);
            events.append('request.updated', updated);
          }
        }
        return result;
      });
    },

    get: view,

    getRequestToken(id) {
      const row = sql.selectToken.get(id);
      if (row === undefined || row.request_token === null) return row?.request_token;
      return ctx.vault.open(row.request_token, placeOf(REQUEST_TOKEN, id));
    },

    list({ group, limit, cursor }) {
      const statements = sql.listStatements.get(group ?? 'all');
      if (statements === undefined) throw new RangeError(`unknown group ${String(group)}`);
      const size = Math.max(1, Math.trunc(Number.isFinite(limit) ? limit : 1));
      const page = { limit: size + 1 };
      const rows =
        cursor === undefined
          ? statements.first.all(page)
          : (() => {
              const at = decodeCursor(cursor);
              return statements.after.all({ ...page, lm: at.lastModified, id: at.id });
            })();
      const more = rows.length > size;
      const pageRows = more ? rows.slice(0, size) : rows;
      const last = pageRows[pageRows.length - 1];
      return {
        items: pageRows.flatMap((row) => toConnectionRequest(row, limits) ?? []),
        nextCursor: more && last !== undefined ? encodeCursor(last.last_modified, last.id) : null,
      };
    },

    counts() {
      const counts: Counts = { pending: 0, failed: 0, connected: 0 };
      for (const { status, n } of sql.selectCounts.all()) {
        const code = readStatus(status);
        if (code !== undefined) counts[groupOf(code)] += n;
      }
      return counts;
    },
  };
}
