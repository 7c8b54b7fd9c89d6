import type { ConnectionRequest, Counts, RequestsPage, RequestsQuery } from '../../shared/models.js';
import type { Group, VersionRules } from '../../shared/status.js';
import type { ConcurRecord } from '../concur/record.js';
import type { StoreContext } from './context.js';
import type { Db } from './db.js';
import { placeOf, REQUEST_TOKEN } from './sealed-columns.js';
import type { EventLog } from './events.js';
import { REQUEST_VIEW_SELECT, requestViewPage, toConnectionRequest, type RequestViewRow } from './mapping.js';
import {
  announce,
  countsOf,
  decodeCursor,
  KNOWN_COLUMNS,
  listWheres,
  pageSize,
  planBatches,
  REQUEST_INSERT,
  REQUEST_UPDATE,
  toPage,
  type KnownRow,
  type RequestInsert,
  type RequestWrite,
  type UpsertResult,
} from './request-rows.js';
import { toIso, type TimeInput } from './time.js';

export { encodeCursor, type UpsertResult } from './request-rows.js';

export type ListRequestsQuery = Pick<RequestsQuery, 'group' | 'cursor'> & { limit: number };

export interface Requests {
  upsertFromConcur(records: readonly ConcurRecord[], seenAt: TimeInput): UpsertResult;
  get(id: string): ConnectionRequest | undefined;
  getRequestToken(id: string): string | null | undefined;
  list(query: ListRequestsQuery): RequestsPage;
  counts(): Counts;
}

/** The statements of the requests table, prepared once. */
function prepare(db: Db) {
  // What the store has for a page's ids, in one statement: the ids as one JSON array.
  const lookupStatement = db.prepare<[string], KnownRow>(
    `SELECT ${KNOWN_COLUMNS} FROM requests WHERE id IN (SELECT value FROM json_each(?))`,
  );
  function lookup(ids: readonly string[]): Map<string, KnownRow> {
    const known = new Map<string, KnownRow>();
    for (const row of lookupStatement.all(JSON.stringify(ids))) known.set(row.id, row);
    return known;
  }
  const insert = db.prepare<[RequestInsert]>(REQUEST_INSERT);
  const update = db.prepare<[RequestWrite]>(REQUEST_UPDATE);
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
  const listStatement = (where: string) => db.prepare<[Page], RequestViewRow>(requestViewPage(where));
  type ListStatement = ReturnType<typeof listStatement>;
  const listStatements = new Map<Group | 'all', { first: ListStatement; after: ListStatement }>();
  for (const [key, where] of listWheres()) {
    listStatements.set(key, { first: listStatement(where.first), after: listStatement(where.after) });
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

export function createRequests(ctx: StoreContext, events: Pick<EventLog, 'appendAll'>, limits: VersionRules): Requests {
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
        // One read for the whole page (see planBatches for an id twice in it).
        const known = sql.lookup([...new Set(records.map((record) => record.id))]);
        for (const batch of planBatches(records, known, seenAt, ctx.vault)) {
          for (const planned of batch) {
            if (planned.kind === 'insert') sql.insert.run(planned.write);
            else sql.update.run(planned.write);
          }
          events.appendAll(announce(batch, limits, view, result));
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
      const size = pageSize(limit);
      const page = { limit: size + 1 };
      const rows =
        cursor === undefined
          ? statements.first.all(page)
          : (() => {
              const at = decodeCursor(cursor);
              return statements.after.all({ ...page, lm: at.lastModified, id: at.id });
            })();
      return toPage(rows, size, limits);
    },

    counts() {
      return countsOf(sql.selectCounts.all());
    },
  };
}
