import type { ConnectionRequest, Counts, RequestsPage, RequestsQuery } from '../../shared/models.js';
import { GROUPS, groupOf, STATUS_CODES, type Group } from '../../shared/status.js';
import type { ConcurRecord } from '../concur/record.js';
import type { StoreContext } from './context.js';
import { BadCursorError } from './errors.js';
import type { EventLog } from './events.js';
import { readStatus, REQUEST_VIEW_SELECT, toConnectionRequest, type RequestViewRow } from './mapping.js';
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
  request_token: string | null;
  request_token_issued_at: string | null;
}

interface RequestWrite {
  id: string;
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
  request_token: string | null;
  request_token_issued_at: string | null;
  last_modified: string;
  updated_at: string;
}

// ---- cursors: opaque to clients, base64url of JSON [lastModified, id] ----

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

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
    !ISO.test(value[0]) ||
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

export interface Requests {
  upsertFromConcur(records: readonly ConcurRecord[], seenAt: TimeInput): UpsertResult;
  get(id: string): ConnectionRequest | undefined;
  getRequestToken(id: string): string | null | undefined;
  list(query: ListRequestsQuery): RequestsPage;
  counts(): Counts;
}

export function createRequests(ctx: StoreContext, events: EventLog): Requests {
  const { db } = ctx;

  const selectConcur = db.prepare<[string], ConcurRow>(`
    SELECT uri, first_name, middle_name, last_name, loyalty_number, discount_code, status, concur_status,
           concur_last_modified, message, user_id, request_token, request_token_issued_at
    FROM requests WHERE id = ?`);
  const insert = db.prepare<[RequestWrite & { first_seen_at: string }]>(`
    INSERT INTO requests (id, uri, first_name, middle_name, last_name, loyalty_number, discount_code, status,
                          concur_status, concur_last_modified, message, user_id, request_token,
                          request_token_issued_at, last_modified, first_seen_at, updated_at, retries)
    VALUES (@id, @uri, @first_name, @middle_name, @last_name, @loyalty_number, @discount_code, @status,
            @concur_status, @concur_last_modified, @message, @user_id, @request_token,
            @request_token_issued_at, @last_modified, @first_seen_at, @updated_at, 0)`);
  const update = db.prepare<[RequestWrite]>(`
    UPDATE requests SET uri = @uri, first_name = @first_name, middle_name = @middle_name, last_name = @last_name,
           loyalty_number = @loyalty_number, discount_code = @discount_code, status = @status,
           concur_status = @concur_status, concur_last_modified = @concur_last_modified, message = @message,
           user_id = @user_id, request_token = @request_token, request_token_issued_at = @request_token_issued_at,
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
  type Page = { limit: number; lm?: string; id?: string };
  function listStatement(statuses: readonly string[] | null, afterCursor: boolean) {
    const where = [
      ...(statuses === null ? [] : [`q.status IN (${quoted(statuses)})`]),
      ...(afterCursor ? ['(q.last_modified < @lm OR (q.last_modified = @lm AND q.id < @id))'] : []),
    ];
    return db.prepare<[Page], RequestViewRow>(
      `${REQUEST_VIEW_SELECT}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}
       ORDER BY q.last_modified DESC, q.id DESC LIMIT @limit`,
    );
  }
  type ListStatement = ReturnType<typeof listStatement>;
  const listStatements = new Map<Group | 'all', { first: ListStatement; after: ListStatement }>();
  for (const key of ['all', ...GROUPS] as const) {
    const statuses = key === 'all' ? null : STATUS_CODES.filter((code) => groupOf(code) === key);
    listStatements.set(key, { first: listStatement(statuses, false), after: listStatement(statuses, true) });
  }

  function view(id: string): ConnectionRequest | undefined {
    const row = selectView.get(id);
    return row === undefined ? undefined : toConnectionRequest(row);
  }

  function changed(before: ConcurRow, record: ConcurRecord, lastModified: string | null): boolean {
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
      before.request_token !== record.requestToken ||
      (lastModified !== null && lastModified !== before.concur_last_modified)
    );
  }

  return {
    upsertFromConcur(records, seenAtInput) {
      const seenAt = toIso(seenAtInput);
      return ctx.tx(() => {
        const result: UpsertResult = { created: [], updated: [] };
        for (const record of records) {
          const lastModified = record.lastModified === null ? null : toIso(record.lastModified);
          const before = selectConcur.get(record.id);
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
            request_token: record.requestToken,
            last_modified: lastModified ?? seenAt,
            updated_at: seenAt,
          };
          if (before === undefined) {
            insert.run({
              ...common,
              status: record.status,
              concur_last_modified: lastModified,
              request_token_issued_at: record.requestToken === null ? null : seenAt,
              first_seen_at: seenAt,
            });
            const created = view(record.id);
            if (created !== undefined) {
              result.created.push(created);
              events.append('request.created', created);
            }
            continue;
          }
          if (!changed(before, record, lastModified)) continue;
          const newToken = before.request_token !== record.requestToken;
          update.run({
            ...common,
            // A sent reply's code stands until Concur's own status moves on.
            status: before.concur_status !== record.status ? record.status : before.status,
            concur_last_modified: lastModified ?? before.concur_last_modified,
            request_token_issued_at: newToken
              ? record.requestToken === null
                ? null
                : seenAt
              : before.request_token_issued_at,
          });
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
      return selectToken.get(id)?.request_token;
    },

    list({ group, limit, cursor }) {
      const statements = listStatements.get(group ?? 'all');
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
        items: pageRows.flatMap((row) => toConnectionRequest(row) ?? []),
        nextCursor: more && last !== undefined ? encodeCursor(last.last_modified, last.id) : null,
      };
    },

    counts() {
      const counts: Counts = { pending: 0, failed: 0, connected: 0 };
      for (const { status, n } of selectCounts.all()) {
        const code = readStatus(status);
        if (code !== undefined) counts[groupOf(code)] += n;
      }
      return counts;
    },
  };
}
