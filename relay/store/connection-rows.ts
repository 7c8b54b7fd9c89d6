import { type Connection, type ConnectionState, CONNECTION_STATES } from '../../shared/connections.js';
import type { Vault } from '../vault/vault.js';
import type { HeldTokenSet, OpenedTokens, RefreshClaim, TokenForm } from './connections.js';
import { BadCursorError } from './errors.js';
import { CONNECTION_ACCESS_TOKEN, CONNECTION_REFRESH_TOKEN, placeOf } from './sealed-columns.js';
import { toIso } from './time.js';

/**
 * What the connections part does the same way on either database (connections.ts for SQLite,
 * postgres/connections.ts): a row as the model, the list's cursors, the tokens sealed and opened in
 * their places. Nothing here touches a database.
 */

export interface ConnectionRow {
  id: string;
  request_id: string;
  concur_user_id: string | null;
  first_name: string | null;
  last_name: string | null;
  loyalty_number: string | null;
  member_id: string | null;
  form: TokenForm;
  instance_url: string;
  geolocation: string | null;
  state: ConnectionState;
  connected_at: string;
  connected_by: string;
  access_token_expires_at: string;
  refresh_token_expires_at: string | null;
  last_refreshed_at: string | null;
  last_error: string | null;
}

/** The sealed tokens of a row (null once erased). */
export interface SealedTokens {
  access_token: string | null;
  refresh_token: string | null;
}

export const COLUMNS = `id, request_id, concur_user_id, first_name, last_name, loyalty_number, member_id, form, instance_url,
  geolocation, state, connected_at, connected_by, access_token_expires_at, refresh_token_expires_at, last_refreshed_at, last_error`;

export function toConnection(row: ConnectionRow): Connection {
  return {
    id: row.id,
    requestId: row.request_id,
    concurUserId: row.concur_user_id,
    firstName: row.first_name,
    lastName: row.last_name,
    loyaltyNumber: row.loyalty_number,
    memberId: row.member_id,
    instanceUrl: row.instance_url,
    state: row.state,
    connectedAt: row.connected_at,
    connectedBy: row.connected_by,
    accessTokenExpiresAt: row.access_token_expires_at,
    refreshTokenExpiresAt: row.refresh_token_expires_at,
    lastRefreshedAt: row.last_refreshed_at,
    lastError: row.last_error,
  };
}

const where = (id: string, column: 'access_token' | 'refresh_token') =>
  placeOf(column === 'access_token' ? CONNECTION_ACCESS_TOKEN : CONNECTION_REFRESH_TOKEN, id);

export function encodeCursor(row: Pick<ConnectionRow, 'connected_at' | 'id'>): string {
  return `c.${Buffer.from(JSON.stringify([row.connected_at, row.id])).toString('base64url')}`;
}

export function decodeCursor(cursor: string): [string, string] {
  try {
    if (!/^c\.[A-Za-z0-9_-]{1,400}$/.test(cursor)) throw new Error('shape');
    const value: unknown = JSON.parse(Buffer.from(cursor.slice(2), 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2 || !value.every((part) => typeof part === 'string')) throw new Error('parts');
    const [at, id] = value as [string, string];
    if (toIso(at) !== at) throw new Error('time');
    return [at, id];
  } catch {
    throw new BadCursorError();
  }
}

/** A token set as it is written: the tokens sealed in their place, the rest as is. */
export function sealedTokens(vault: Vault, id: string, tokens: HeldTokenSet) {
  return {
    access_token: vault.seal(tokens.accessToken, where(id, 'access_token')),
    refresh_token: vault.seal(tokens.refreshToken, where(id, 'refresh_token')),
    instance_url: tokens.instanceUrl,
    geolocation: tokens.geolocation,
    access_token_expires_at: toIso(tokens.accessTokenExpiresAt),
    refresh_token_expires_at: tokens.refreshTokenExpiresAt === null ? null : toIso(tokens.refreshTokenExpiresAt),
  };
}

/** The row's tokens, opened; undefined once they were erased. */
export function openTokens(vault: Vault, row: ConnectionRow, secret: SealedTokens | undefined): OpenedTokens | undefined {
  if (secret === undefined || secret.access_token === null || secret.refresh_token === null) return undefined;
  return {
    id: row.id,
    form: row.form,
    state: row.state,
    accessToken: vault.open(secret.access_token, where(row.id, 'access_token')),
    refreshToken: vault.open(secret.refresh_token, where(row.id, 'refresh_token')),
    instanceUrl: row.instance_url,
    geolocation: row.geolocation,
    accessTokenExpiresAt: row.access_token_expires_at,
    refreshTokenExpiresAt: row.refresh_token_expires_at,
  };
}

/** What claiming a refresh looks at. */
export interface ClaimRow extends SealedTokens {
  state: string;
  next_refresh_at: string | null;
  claimed_until: string | null;
}

export const CLAIM_COLUMNS = 'state, access_token, refresh_token, next_refresh_at, refresh_claimed_until AS claimed_until';

/** Why the refresh of `row` cannot be claimed at `at` (`whenDue`: only while it is due); null: it can. */
export function claimRefusal(row: ClaimRow | undefined, at: string, whenDue: boolean): Exclude<RefreshClaim, { kind: 'claimed' }> | null {
  if (row === undefined || row.state !== 'active' || row.access_token === null || row.refresh_token === null) return { kind: 'gone' };
  if (row.claimed_until !== null && row.claimed_until > at) return { kind: 'busy', until: row.claimed_until };
  if (whenDue && (row.next_refresh_at === null || row.next_refresh_at > at)) return { kind: 'not_due' };
  return null;
}

/** One page from `limit` + 1 rows (the extra one says whether another page follows). */
export function pageOf(rows: ConnectionRow[], take: number): { items: Connection[]; nextCursor: string | null } {
  const items = rows.slice(0, take);
  const last = items.at(-1);
  return { items: items.map(toConnection), nextCursor: rows.length > take && last !== undefined ? encodeCursor(last) : null };
}

/** Every state, with the counts the database gave (states it does not know are left out). */
export function countsOf(rows: Array<{ state: string; n: number }>): Record<ConnectionState, number> {
  const counts = Object.fromEntries(CONNECTION_STATES.map((state) => [state, 0])) as Record<ConnectionState, number>;
  for (const { state, n } of rows) {
    const known = CONNECTION_STATES.find((s) => s === state);
    if (known !== undefined) counts[known] += n;
  }
  return counts;
}

