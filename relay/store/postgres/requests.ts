import type { ConnectionRequest } from '../../../shared/models.js';
import type { Group, VersionRules } from '../../../shared/status.js';
import type { Requests } from '../index.js';
import { REQUEST_VIEW_SELECT, requestViewPage, toConnectionRequest, type RequestViewRow } from '../mapping.js';
import {
  announce,
  countsOf,
  decodeCursor,
  INSERTED_COLUMNS,
  KNOWN_COLUMNS,
  listWheres,
  pageSize,
  planBatches,
  toPage,
  UPDATED_COLUMNS,
  type KnownRow,
  type Planned,
  type UpsertResult,
} from '../request-rows.js';
import { placeOf, REQUEST_TOKEN } from '../sealed-columns.js';
import { toIso } from '../time.js';
import type { PgContext } from './context.js';
import { lockEvents, type PgEventLog } from './events.js';
import { named } from './named.js';

type Page = { limit: number; lm?: string; id?: string };

/**
 * A batch's new rows in one statement: $1 a JSON array of RequestInsert, read as rows of the
 * table's own type (so each value is cast to its column's type), in the array's order.
 */
const INSERT_ALL = `
  INSERT INTO requests (${INSERTED_COLUMNS.join(', ')}, retries)
  SELECT ${INSERTED_COLUMNS.join(', ')}, 0 FROM json_populate_recordset(NULL::requests, $1::json)`;

/**
 * A batch's changed rows in one statement: $1 a JSON array of RequestWrite (no id twice, see
 * planBatches), $2 the ids whose token is new (the others keep the sealed one they have).
 */
const UPDATE_ALL = `
  UPDATE requests AS q SET ${UPDATED_COLUMNS.map((column) =>
    column === 'request_token'
      ? 'request_token = CASE WHEN w.id = ANY($2::text[]) THEN w.request_token ELSE q.request_token END'
      : `${column} = w.${column}`,
  ).join(', ')}
  FROM json_populate_recordset(NULL::requests, $1::json) AS w
  WHERE q.id = w.id`;

/** The PostgreSQL twin of requests.ts: the same rows, events and pages, for several relays at once. */
export function createPgRequests(ctx: PgContext, events: Pick<PgEventLog, 'appendAll'>, limits: VersionRules): Requests {
  const lists = new Map<Group | 'all', { first: ReturnType<typeof named<Page>>; after: ReturnType<typeof named<Page>> }>();
  for (const [key, where] of listWheres()) {
    lists.set(key, { first: named<Page>(requestViewPage(where.first)), after: named<Page>(requestViewPage(where.after)) });
  }

  async function view(id: string): Promise<ConnectionRequest | undefined> {
    const { rows } = await ctx.query<RequestViewRow>(`${REQUEST_VIEW_SELECT} WHERE q.id = $1`, [id]);
    const row = rows[0];
    return row === undefined ? undefined : toConnectionRequest(row, limits);
  }

  /** Writes a batch (see planBatches): its new rows, its changed rows, then reads the changed ones back as views. */
  async function writeBatch(batch: readonly Planned[]): Promise<Map<string, ConnectionRequest>> {
    const inserts = batch.flatMap((planned) => (planned.kind === 'insert' ? [planned.write] : []));
    const updates = batch.flatMap((planned) => (planned.kind === 'update' ? [planned.write] : []));
    if (inserts.length > 0) await ctx.query(INSERT_ALL, [JSON.stringify(inserts)]);
    const views = new Map<string, ConnectionRequest>();
    if (updates.length === 0) return views;
    const newTokens = updates.flatMap((write) => (write.new_token === 1 ? [write.id] : []));
    await ctx.query(UPDATE_ALL, [JSON.stringify(updates), newTokens]);
    const { rows } = await ctx.query<RequestViewRow>(`${REQUEST_VIEW_SELECT} WHERE q.id = ANY($1::text[])`, [updates.map((write) => write.id)]);
    for (const row of rows) {
      const view = toConnectionRequest(row, limits);
      if (view !== undefined) views.set(row.id, view);
    }
    return views;
  }

  return {
    async upsertFromConcur(records, seenAtInput) {
      const seenAt = toIso(seenAtInput);
      return ctx.tx(async () => {
        // Two relays upserting the same page at once must not both see a request as new (two
        // request.created) or both announce one change: each compares with what the other
        // committed only if they take turns. The events lock (which every append takes anyway)
        // is that turn, taken before the page is read; taken first, before any row lock, it
        // cannot deadlock with a writer that locks a request row and then appends.
        await lockEvents(ctx);
        const result: UpsertResult = { created: [], updated: [] };
        // One read for the whole page (see planBatches for an id twice in it).
        const ids = [...new Set(records.map((record) => record.id))];
        const { rows } = await ctx.query<KnownRow>(`SELECT ${KNOWN_COLUMNS} FROM requests WHERE id = ANY($1::text[])`, [ids]);
        const known = new Map(rows.map((row) => [row.id, row]));
        for (const batch of planBatches(records, known, seenAt, ctx.vault)) {
          const updatedViews = await writeBatch(batch);
          await events.appendAll(announce(batch, limits, (id) => updatedViews.get(id), result));
        }
        return result;
      });
    },

    get: view,

    async getRequestToken(id) {
      const { rows } = await ctx.query<{ request_token: string | null }>('SELECT request_token FROM requests WHERE id = $1', [id]);
      const row = rows[0];
      if (row === undefined || row.request_token === null) return row?.request_token;
      return ctx.vault.open(row.request_token, placeOf(REQUEST_TOKEN, id));
    },

    async list({ group, limit, cursor }) {
      const statements = lists.get(group ?? 'all');
      if (statements === undefined) throw new RangeError(`unknown group ${String(group)}`);
      const size = pageSize(limit);
      const page = { limit: size + 1 };
      const at = cursor === undefined ? undefined : decodeCursor(cursor);
      const { rows } =
        at === undefined
          ? await ctx.query<RequestViewRow>(statements.first.text, statements.first.bind(page))
          : await ctx.query<RequestViewRow>(statements.after.text, statements.after.bind({ ...page, lm: at.lastModified, id: at.id }));
      return toPage(rows, size, limits);
    },

    async counts() {
      const { rows } = await ctx.query<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM requests GROUP BY status');
      return countsOf(rows);
    },
  };
}
