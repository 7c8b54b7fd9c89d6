import type { ConnectionRequest } from '../../../shared/models.js';
import type { Group, VersionRules } from '../../../shared/status.js';
import type { EventLog, Requests, UpsertResult } from '../index.js';
import { REQUEST_VIEW_SELECT, requestViewPage, toConnectionRequest, type RequestViewRow } from '../mapping.js';
import {
  countsOf,
  createdView,
  decodeCursor,
  KNOWN_COLUMNS,
  listWheres,
  pageSize,
  planWrite,
  REQUEST_INSERT,
  REQUEST_UPDATE,
  toPage,
  type KnownRow,
  type RequestInsert,
  type RequestWrite,
} from '../request-rows.js';
import { placeOf, REQUEST_TOKEN } from '../sealed-columns.js';
import { toIso } from '../time.js';
import type { PgContext } from './context.js';
import { lockEvents } from './events.js';
import { named } from './named.js';

type Page = { limit: number; lm?: string; id?: string };

/** The PostgreSQL twin of requests.ts: the same rows, events and pages, for several relays at once. */
export function createPgRequests(ctx: PgContext, events: Pick<EventLog, 'append'>, limits: VersionRules): Requests {
  const insert = named<RequestInsert>(REQUEST_INSERT);
  const update = named<RequestWrite>(REQUEST_UPDATE);
  const lists = new Map<Group | 'all', { first: ReturnType<typeof named<Page>>; after: ReturnType<typeof named<Page>> }>();
  for (const [key, where] of listWheres()) {
    lists.set(key, { first: named<Page>(requestViewPage(where.first)), after: named<Page>(requestViewPage(where.after)) });
  }

  async function view(id: string): Promise<ConnectionRequest | undefined> {
    const { rows } = await ctx.query<RequestViewRow>(`${REQUEST_VIEW_SELECT} WHERE q.id = $1`, [id]);
    const row = rows[0];
    return row === undefined ? undefined : toConnectionRequest(row, limits);
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
        // One read for the whole page; the map follows the writes, so an id twice in a page is
        // compared with what its first occurrence wrote.
        const ids = [...new Set(records.map((record) => record.id))];
        const { rows } = await ctx.query<KnownRow>(`SELECT ${KNOWN_COLUMNS} FROM requests WHERE id = ANY($1::text[])`, [ids]);
        const known = new Map(rows.map((row) => [row.id, row]));
        for (const record of records) {
          const planned = planWrite(record, known.get(record.id), seenAt, ctx.vault);
          if (planned === undefined) continue;
          known.set(record.id, planned.write);
          if (planned.kind === 'insert') {
            await ctx.query(insert.text, insert.bind(planned.write));
            const created = createdView(planned.write, limits);
            if (created !== undefined) {
              result.created.push(created);
              await events.append('request.created', created);
            }
            continue;
          }
          await ctx.query(update.text, update.bind(planned.write));
          const updated = await view(record.id);
          if (updated !== undefined) {
            result.updated.push(updated);
            await events.append('request.updated', updated);
          }
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
