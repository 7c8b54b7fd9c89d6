import { randomBytes } from 'node:crypto';
import type { Connection, ConnectionsPage, ConnectionState } from '../../shared/connections.js';
import type { Actor, Audit } from './audit.js';
import type { StoreContext } from './context.js';
import type { Db } from './db.js';
import { CLAIM_COLUMNS, claimRefusal, COLUMNS, countsOf, decodeCursor, openTokens, pageOf, sealedTokens, toConnection, type ClaimRow, type ConnectionRow, type SealedTokens } from './connection-rows.js';
import { UnknownConnectionError } from './errors.js';
import type { EventLog } from './events.js';
import { addMs, toIso, type TimeInput } from './time.js';

/**
 * Connections: a traveller's own tokens, got by exchanging a request token, kept for the partner's
 * systems. The tokens are sealed by the vault (sealed-columns.ts; their place — `connections.access_token:<id>` — is
 * part of the seal) and opened only by `tokens()`, for the refresh worker and the broker's route;
 * nothing that builds a Connection reads them. Each change is a `connection.created` or
 * `connection.updated` event in the same transaction (webhooks: established, broken, revoked).
 */

export type TokenForm = 'legacy' | 'password';

/** What an exchange or a refresh brought: the traveller's tokens and where they work. */
export interface HeldTokenSet {
  accessToken: string;
  refreshToken: string;
  instanceUrl: string;
  accessTokenExpiresAt: string;
  refreshTokenExpiresAt: string | null;
  geolocation: string | null;
}

export interface NewConnection {
  requestId: string;
  form: TokenForm;
  tokens: HeldTokenSet;
  /** Who asked for the CRSUC (a key's name, or `auto`). */
  connectedBy: string;
  memberId?: string | null;
  /** When the refresh worker should first look at it. */
  nextRefreshAt: TimeInput;
}

/** A connection's tokens, opened from the vault, with what refreshing them needs. */
export interface OpenedTokens extends HeldTokenSet {
  id: string;
  form: TokenForm;
  state: ConnectionState;
}

/**
 * What claiming a refresh came to: the tokens to refresh (the claim is this caller's until its
 * lease ends, or until `refreshed`/`refreshFailed` records the outcome), `busy` while another
 * claim's lease runs (another relay is at Concur with the same refresh token), or `gone`: unknown,
 * not active, its tokens erased.
 */
export type RefreshClaim =
  | { kind: 'claimed'; tokens: OpenedTokens }
  | { kind: 'busy'; until: string }
  /** Asked for only while due, and it is not (another relay refreshed it since it was listed as due). */
  | { kind: 'not_due' }
  | { kind: 'gone' };

export interface Connections {
  /** Stores a new connection (or, for a request that has one, replaces its tokens): sealed, with connection.created. */
  create(input: NewConnection): Connection;
  get(id: string): Connection | undefined;
  byRequest(requestId: string): Connection | undefined;
  /** Newest connectedAt first. Throws BadCursorError for a cursor it did not make. */
  list(query: { state?: ConnectionState; limit: number; cursor?: string }): ConnectionsPage;
  /** The connection's tokens, opened; undefined for an unknown id or once they were erased (revoked). */
  tokens(id: string): OpenedTokens | undefined;
  /**
   * Claims the refresh of an active connection for `leaseMs` from `now`: one refresh at a time per
   * connection across every relay on the database, as Concur rotates the refresh token on each use
   * and a second refresh with the old one would break the connection. The lease must outlast a
   * call to Concur; a relay that dies holding one only delays the refresh until it ends.
   * `whenDue`: only if it is due at `now` (the worker's refreshes, listed by `dueForRefresh`
   * before another relay may have refreshed them); otherwise whenever (a token needed now).
   */
  claimRefresh(id: string, now: TimeInput, leaseMs: number, whenDue?: boolean): RefreshClaim;
  /** A refresh worked: the new tokens (the refresh token may be rotated, the geolocation moved). */
  refreshed(id: string, tokens: HeldTokenSet, nextRefreshAt: TimeInput): Connection;
  /**
   * A refresh did not work. `final`: Concur refused the refresh token for good → refresh_failed
   * (the traveller must connect again); else the error is kept and the next try is `nextRefreshAt`.
   */
  refreshFailed(id: string, error: string, outcome: { final: true } | { final: false; nextRefreshAt: TimeInput }): Connection;
  /** Revoked by `actor`: the tokens are erased (the ciphertext too), state revoked, audited (with `details`, e.g. what Concur said). */
  revoke(id: string, actor: Actor, details?: Record<string, unknown>): Connection;
  /** Ids of active connections whose refresh is due at `now` (and not claimed by a running lease), soonest first. */
  dueForRefresh(now: TimeInput, limit: number): string[];
  /** When the soonest refresh of an active connection is due (a claimed one: not before its lease ends); null when none is. */
  nextRefreshAt(): string | null;
  counts(): Record<ConnectionState, number>;
}

/** The statements of the connections table, prepared once. */
function prepare(db: Db) {
  const byId = db.prepare<[string], ConnectionRow>(`SELECT ${COLUMNS} FROM connections WHERE id = ?`);
  const byRequestId = db.prepare<[string], ConnectionRow>(`SELECT ${COLUMNS} FROM connections WHERE request_id = ?`);
  const sealed = db.prepare<[string], SealedTokens>('SELECT access_token, refresh_token FROM connections WHERE id = ?');
  const claimOf = db.prepare<[string], ClaimRow>(`SELECT ${CLAIM_COLUMNS} FROM connections WHERE id = ?`);
  const claim = db.prepare<[{ id: string; until: string }]>('UPDATE connections SET refresh_claimed_until = @until WHERE id = @id');
  const requestRow = db.prepare<[string], { user_id: string | null; first_name: string | null; last_name: string | null; loyalty_number: string | null }>(
    'SELECT user_id, first_name, last_name, loyalty_number FROM requests WHERE id = ?',
  );
  const insert = db.prepare(`
    INSERT INTO connections (id, request_id, concur_user_id, first_name, last_name, loyalty_number, member_id, form,
      instance_url, geolocation, access_token, refresh_token, state, connected_at, connected_by,
      access_token_expires_at, refresh_token_expires_at, last_refreshed_at, next_refresh_at, refresh_failures, last_error, updated_at)
    VALUES (@id, @request_id, @concur_user_id, @first_name, @last_name, @loyalty_number, @member_id, @form,
      @instance_url, @geolocation, @access_token, @refresh_token, 'active', @now, @connected_by,
      @access_token_expires_at, @refresh_token_expires_at, NULL, @next_refresh_at, 0, NULL, @now)`);
  const replaceTokens = db.prepare(`
    UPDATE connections SET form = @form, instance_url = @instance_url, geolocation = @geolocation, access_token = @access_token,
      refresh_token = @refresh_token, state = 'active', connected_at = @now, connected_by = @connected_by,
      member_id = COALESCE(@member_id, member_id), access_token_expires_at = @access_token_expires_at,
      refresh_token_expires_at = @refresh_token_expires_at, next_refresh_at = @next_refresh_at, refresh_failures = 0,
      last_error = NULL, refresh_claimed_until = NULL, updated_at = @now
    WHERE id = @id`);
  const updateRefreshed = db.prepare(`
    UPDATE connections SET instance_url = @instance_url, geolocation = @geolocation, access_token = @access_token,
      refresh_token = @refresh_token, access_token_expires_at = @access_token_expires_at,
      refresh_token_expires_at = @refresh_token_expires_at, last_refreshed_at = @now, next_refresh_at = @next_refresh_at,
      refresh_failures = 0, last_error = NULL, refresh_claimed_until = NULL, updated_at = @now
    WHERE id = @id AND state = 'active'`);
  const updateFailed = db.prepare<[{ id: string; error: string; next: string | null; state: ConnectionState; now: string }]>(`
    UPDATE connections SET last_error = @error, next_refresh_at = @next, state = @state, refresh_failures = refresh_failures + 1,
      refresh_claimed_until = NULL, updated_at = @now
    WHERE id = @id AND state = 'active'`);
  const updateRevoked = db.prepare<[{ id: string; now: string }]>(`
    UPDATE connections SET state = 'revoked', access_token = NULL, refresh_token = NULL, next_refresh_at = NULL, refresh_claimed_until = NULL,
      updated_at = @now
    WHERE id = @id AND state <> 'revoked'`);
  const due = db.prepare<[{ now: string; limit: number }], { id: string }>(`
    SELECT id FROM connections
    WHERE state = 'active' AND next_refresh_at <= @now AND (refresh_claimed_until IS NULL OR refresh_claimed_until <= @now)
    ORDER BY next_refresh_at, id LIMIT @limit`);
  // A claimed one is not worth a look before its lease ends ('' sorts before every time: no claim).
  const soonest = db.prepare<[], { at: string | null }>(
    "SELECT MIN(MAX(next_refresh_at, COALESCE(refresh_claimed_until, ''))) AS at FROM connections WHERE state = 'active'",
  );
  const countRows = db.prepare<[], { state: string; n: number }>('SELECT state, COUNT(*) AS n FROM connections GROUP BY state');
  return { byId, byRequestId, sealed, claimOf, claim, requestRow, insert, replaceTokens, updateRefreshed, updateFailed, updateRevoked, due, soonest, countRows };
}

/** One page of rows, newest first, `limit` + 1 of them (the extra one says whether another page follows). */
function pageRows(db: Db, state: ConnectionState | undefined, limit: number, cursor: string | undefined): ConnectionRow[] {
  const filters: string[] = [];
  const params: Record<string, string | number> = { limit: limit + 1 };
  if (state !== undefined) {
    filters.push('state = @state');
    params.state = state;
  }
  if (cursor !== undefined) {
    const [at, id] = decodeCursor(cursor);
    filters.push('(connected_at < @at OR (connected_at = @at AND id < @id))');
    params.at = at;
    params.id = id;
  }
  const filter = filters.length === 0 ? '' : `WHERE ${filters.join(' AND ')}`;
  return db.prepare<[Record<string, string | number>], ConnectionRow>(
    `SELECT ${COLUMNS} FROM connections ${filter} ORDER BY connected_at DESC, id DESC LIMIT @limit`,
  ).all(params);
}

export function createConnections(ctx: StoreContext, events: Pick<EventLog, 'append'>, audit: Pick<Audit, 'append'>): Connections {
  const { db, vault } = ctx;
  const sql = prepare(db);

  function load(id: string): Connection {
    const row = sql.byId.get(id);
    if (row === undefined) throw new UnknownConnectionError(id);
    return toConnection(row);
  }

  return {
    create({ requestId, form, tokens, connectedBy, memberId = null, nextRefreshAt }) {
      return ctx.tx(() => {
        const request = sql.requestRow.get(requestId);
        const known = sql.byRequestId.get(requestId);
        const id = known?.id ?? `con_${randomBytes(9).toString('base64url')}`;
        const values = {
          id,
          form,
          connected_by: connectedBy,
          member_id: memberId,
          next_refresh_at: toIso(nextRefreshAt),
          now: ctx.now(),
          ...sealedTokens(vault, id, tokens),
        };
        if (known === undefined) {
          sql.insert.run({
            ...values,
            request_id: requestId,
            concur_user_id: request?.user_id ?? null,
            first_name: request?.first_name ?? null,
            last_name: request?.last_name ?? null,
            loyalty_number: request?.loyalty_number ?? null,
          });
        } else {
          sql.replaceTokens.run(values);
        }
        const connection = load(id);
        events.append(known === undefined ? 'connection.created' : 'connection.updated', connection);
        return connection;
      });
    },

    get(id) {
      const row = sql.byId.get(id);
      return row === undefined ? undefined : toConnection(row);
    },

    byRequest(requestId) {
      const row = sql.byRequestId.get(requestId);
      return row === undefined ? undefined : toConnection(row);
    },

    list({ state, limit, cursor }) {
      const take = Math.max(1, Math.trunc(limit));
      return pageOf(pageRows(db, state, take, cursor), take);
    },

    tokens(id) {
      const row = sql.byId.get(id);
      return row === undefined ? undefined : openTokens(vault, row, sql.sealed.get(id));
    },

    claimRefresh(id, now, leaseMs, whenDue = false) {
      return ctx.tx((): RefreshClaim => {
        const at = toIso(now);
        const refused = claimRefusal(sql.claimOf.get(id), at, whenDue);
        const row = sql.byId.get(id);
        const tokens = refused === null && row !== undefined ? openTokens(vault, row, sql.sealed.get(id)) : undefined;
        if (tokens === undefined) return refused ?? { kind: 'gone' };
        sql.claim.run({ id, until: addMs(at, leaseMs) });
        return { kind: 'claimed', tokens };
      });
    },

    refreshed(id, tokens, nextRefreshAt) {
      return ctx.tx(() => {
        const changed = sql.updateRefreshed.run({ id, now: ctx.now(), next_refresh_at: toIso(nextRefreshAt), ...sealedTokens(vault, id, tokens) });
        const connection = load(id);
        if (changed.changes > 0) events.append('connection.updated', connection);
        return connection;
      });
    },

    refreshFailed(id, error, outcome) {
      return ctx.tx(() => {
        const next = outcome.final ? null : toIso(outcome.nextRefreshAt);
        const changed = sql.updateFailed.run({ id, error, next, state: outcome.final ? 'refresh_failed' : 'active', now: ctx.now() });
        const connection = load(id);
        // A temporary failure changes nothing a client acts on; a final one breaks the connection.
        if (changed.changes > 0 && outcome.final) events.append('connection.updated', connection);
        return connection;
      });
    },

    revoke(id, actor, details = {}) {
      return ctx.tx(() => {
        const before = load(id);
        if (sql.updateRevoked.run({ id, now: ctx.now() }).changes === 0) return before;
        const connection = load(id);
        audit.append({ actor, action: 'connection.revoked', target: id, details: { requestId: connection.requestId, ...details } });
        events.append('connection.updated', connection);
        return connection;
      });
    },

    dueForRefresh(now, limit) {
      return sql.due.all({ now: toIso(now), limit: Math.max(1, Math.trunc(limit)) }).map((row) => row.id);
    },

    nextRefreshAt() {
      return sql.soonest.get()?.at ?? null;
    },

    counts() {
      return countsOf(sql.countRows.all());
    },
  };
}
