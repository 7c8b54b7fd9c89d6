import { randomBytes } from 'node:crypto';
import type { Connection, ConnectionState } from '../../../shared/connections.js';
import { CLAIM_COLUMNS, claimRefusal, COLUMNS, countsOf, decodeCursor, openTokens, pageOf, sealedTokens, toConnection, type ClaimRow, type ConnectionRow, type SealedTokens } from '../connection-rows.js';
import type { RefreshClaim } from '../connections.js';
import { UnknownConnectionError } from '../errors.js';
import type { Audit, Connections } from '../index.js';
import { addMs, toIso, type TimeInput } from '../time.js';
import type { PgContext } from './context.js';
import { lockEvents, type PgEventLog } from './events.js';

/**
 * The PostgreSQL twin of connections.ts: the travellers' tokens, sealed in the same places, each
 * change an event in the same transaction. What SQLite's single writer made safe is made safe here
 * explicitly: every write that announces itself takes the events lock first (events.ts: before any
 * row lock, so no two transactions wait for each other), which also makes `create`'s look-then-
 * insert one step; and a refresh is claimed with a lease on the row (`claimRefresh`), so two relays
 * never refresh one connection at once.
 */

/** One page of rows, newest first, `limit` + 1 of them. */
async function pageRows(ctx: PgContext, state: ConnectionState | undefined, limit: number, cursor: string | undefined): Promise<ConnectionRow[]> {
  const filters: string[] = [];
  const values: unknown[] = [limit + 1];
  if (state !== undefined) {
    values.push(state);
    filters.push(`state = $${values.length}`);
  }
  if (cursor !== undefined) {
    const [at, id] = decodeCursor(cursor);
    values.push(at, id);
    filters.push(`(connected_at, id) < ($${values.length - 1}::timestamptz, $${values.length})`);
  }
  const filter = filters.length === 0 ? '' : `WHERE ${filters.join(' AND ')}`;
  const { rows } = await ctx.query<ConnectionRow>(`SELECT ${COLUMNS} FROM connections ${filter} ORDER BY connected_at DESC, id DESC LIMIT $1`, values);
  return rows;
}

interface RequestRow {
  user_id: string | null;
  first_name: string | null;
  last_name: string | null;
  loyalty_number: string | null;
}

async function find(ctx: PgContext, column: 'id' | 'request_id', value: string): Promise<ConnectionRow | undefined> {
  const { rows } = await ctx.query<ConnectionRow>(`SELECT ${COLUMNS} FROM connections WHERE ${column} = $1`, [value]);
  return rows[0];
}

async function sealed(ctx: PgContext, id: string): Promise<SealedTokens | undefined> {
  const { rows } = await ctx.query<SealedTokens>('SELECT access_token, refresh_token FROM connections WHERE id = $1', [id]);
  return rows[0];
}

/** A new connection with the names of its request; `values` as `create` orders them. */
async function insert(ctx: PgContext, id: string, requestId: string, values: unknown[]): Promise<void> {
  const { rows } = await ctx.query<RequestRow>('SELECT user_id, first_name, last_name, loyalty_number FROM requests WHERE id = $1', [requestId]);
  const request = rows[0];
  await ctx.query(
    `INSERT INTO connections (id, form, connected_by, member_id, next_refresh_at, updated_at, connected_at, access_token, refresh_token,
       instance_url, geolocation, access_token_expires_at, refresh_token_expires_at, request_id, concur_user_id, first_name, last_name,
       loyalty_number, state, refresh_failures)
     VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 'active', 0)`,
    [id, ...values, requestId, request?.user_id ?? null, request?.first_name ?? null, request?.last_name ?? null, request?.loyalty_number ?? null],
  );
}

/** See Connections.claimRefresh. */
async function claimRefresh(ctx: PgContext, id: string, now: TimeInput, leaseMs: number, whenDue: boolean): Promise<RefreshClaim> {
  const at = toIso(now);
  // One statement: under READ COMMITTED a relay that waited for the other's row lock checks the
  // conditions again on the row as the other left it, so of two relays claiming at once one wins,
  // and (whenDue) one that finds it refreshed meanwhile no longer sees it due.
  const { rows } = await ctx.query<ConnectionRow & SealedTokens>(
    `UPDATE connections SET refresh_claimed_until = $3
     WHERE id = $1 AND state = 'active' AND access_token IS NOT NULL AND refresh_token IS NOT NULL
       AND (refresh_claimed_until IS NULL OR refresh_claimed_until <= $2) AND ($4::boolean IS FALSE OR next_refresh_at <= $2)
     RETURNING ${COLUMNS}, access_token, refresh_token`,
    [id, at, addMs(at, leaseMs), whenDue],
  );
  const claimed = rows[0];
  const tokens = claimed === undefined ? undefined : openTokens(ctx.vault, claimed, claimed);
  if (tokens !== undefined) return { kind: 'claimed', tokens };
  const { rows: found } = await ctx.query<ClaimRow>(`SELECT ${CLAIM_COLUMNS} FROM connections WHERE id = $1`, [id]);
  // Claimable again by now (its holder stored an outcome in between): another relay was at it.
  return claimRefusal(found[0], at, whenDue) ?? { kind: 'busy', until: at };
}

export function createPgConnections(ctx: PgContext, events: Pick<PgEventLog, 'append'>, audit: Pick<Audit, 'append'>): Connections {
  const { vault } = ctx;

  async function load(id: string): Promise<Connection> {
    const row = await find(ctx, 'id', id);
    if (row === undefined) throw new UnknownConnectionError(id);
    return toConnection(row);
  }

  return {
    async create({ requestId, form, tokens, connectedBy, memberId = null, nextRefreshAt }) {
      return ctx.tx(async () => {
        await lockEvents(ctx);
        const known = await find(ctx, 'request_id', requestId);
        const id = known?.id ?? `con_${randomBytes(9).toString('base64url')}`;
        const t = sealedTokens(vault, id, tokens);
        // $1 id; $2… in the order both statements share.
        const values = [form, connectedBy, memberId, toIso(nextRefreshAt), ctx.now(), t.access_token, t.refresh_token, t.instance_url, t.geolocation,
          t.access_token_expires_at, t.refresh_token_expires_at];
        if (known === undefined) {
          await insert(ctx, id, requestId, values);
        } else {
          await ctx.query(
            `UPDATE connections SET form = $2, connected_by = $3, member_id = COALESCE($4, member_id), next_refresh_at = $5, updated_at = $6,
               connected_at = $6, access_token = $7, refresh_token = $8, instance_url = $9, geolocation = $10, access_token_expires_at = $11,
               refresh_token_expires_at = $12, state = 'active', refresh_failures = 0, last_error = NULL, refresh_claimed_until = NULL
             WHERE id = $1`,
            [id, ...values],
          );
        }
        const connection = await load(id);
        await events.append(known === undefined ? 'connection.created' : 'connection.updated', connection);
        return connection;
      });
    },

    async get(id) {
      const row = await find(ctx, 'id', id);
      return row === undefined ? undefined : toConnection(row);
    },

    async byRequest(requestId) {
      const row = await find(ctx, 'request_id', requestId);
      return row === undefined ? undefined : toConnection(row);
    },

    async list({ state, limit, cursor }) {
      const take = Math.max(1, Math.trunc(limit));
      return pageOf(await pageRows(ctx, state, take, cursor), take);
    },

    async tokens(id) {
      const row = await find(ctx, 'id', id);
      return row === undefined ? undefined : openTokens(vault, row, await sealed(ctx, id));
    },

    claimRefresh: (id, now, leaseMs, whenDue = false) => claimRefresh(ctx, id, now, leaseMs, whenDue),

    async refreshed(id, tokens, nextRefreshAt) {
      return ctx.tx(async () => {
        await lockEvents(ctx);
        const t = sealedTokens(vault, id, tokens);
        const changed = await ctx.query(
          `UPDATE connections SET instance_url = $3, geolocation = $4, access_token = $5, refresh_token = $6, access_token_expires_at = $7,
             refresh_token_expires_at = $8, last_refreshed_at = $2, next_refresh_at = $9, refresh_failures = 0, last_error = NULL,
             refresh_claimed_until = NULL, updated_at = $2
           WHERE id = $1 AND state = 'active'`,
          [id, ctx.now(), t.instance_url, t.geolocation, t.access_token, t.refresh_token, t.access_token_expires_at, t.refresh_token_expires_at, toIso(nextRefreshAt)],
        );
        const connection = await load(id);
        if ((changed.rowCount ?? 0) > 0) await events.append('connection.updated', connection);
        return connection;
      });
    },

    async refreshFailed(id, error, outcome) {
      return ctx.tx(async () => {
        // Only a final failure is announced (and so takes the events lock).
        if (outcome.final) await lockEvents(ctx);
        const next = outcome.final ? null : toIso(outcome.nextRefreshAt);
        const changed = await ctx.query(
          `UPDATE connections SET last_error = $2, next_refresh_at = $3, state = $4, refresh_failures = refresh_failures + 1,
             refresh_claimed_until = NULL, updated_at = $5
           WHERE id = $1 AND state = 'active'`,
          [id, error, next, outcome.final ? 'refresh_failed' : 'active', ctx.now()],
        );
        const connection = await load(id);
        // A temporary failure changes nothing a client acts on; a final one breaks the connection.
        if ((changed.rowCount ?? 0) > 0 && outcome.final) await events.append('connection.updated', connection);
        return connection;
      });
    },

    async revoke(id, actor, details = {}) {
      return ctx.tx(async () => {
        await lockEvents(ctx);
        const before = await load(id);
        const changed = await ctx.query(
          `UPDATE connections SET state = 'revoked', access_token = NULL, refresh_token = NULL, next_refresh_at = NULL,
             refresh_claimed_until = NULL, updated_at = $2
           WHERE id = $1 AND state <> 'revoked'`,
          [id, ctx.now()],
        );
        if ((changed.rowCount ?? 0) === 0) return before;
        const connection = await load(id);
        await audit.append({ actor, action: 'connection.revoked', target: id, details: { requestId: connection.requestId, ...details } });
        await events.append('connection.updated', connection);
        return connection;
      });
    },

    async dueForRefresh(now, limit) {
      const { rows } = await ctx.query<{ id: string }>(
        `SELECT id FROM connections
         WHERE state = 'active' AND next_refresh_at <= $1 AND (refresh_claimed_until IS NULL OR refresh_claimed_until <= $1)
         ORDER BY next_refresh_at, id LIMIT $2`,
        [toIso(now), Math.max(1, Math.trunc(limit))],
      );
      return rows.map((row) => row.id);
    },

    async nextRefreshAt() {
      // A claimed one is not worth a look before its lease ends (GREATEST passes over NULL: no claim).
      const { rows } = await ctx.query<{ at: string | null }>(
        "SELECT MIN(GREATEST(next_refresh_at, refresh_claimed_until)) AS at FROM connections WHERE state = 'active'",
      );
      return rows[0]?.at ?? null;
    },

    async counts() {
      const { rows } = await ctx.query<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM connections GROUP BY state');
      return countsOf(rows);
    },
  };
}
