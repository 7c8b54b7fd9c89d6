/**
 * Every column that holds a secret, sealed by the vault (../vault/vault.ts). Two things walk this
 * list: opening the store seals any value an older relay kept in clear (sealing.ts), and
 * `vault rotate` re-seals every value with the current key. A column missing here is neither: its
 * values would stay in clear in a file written by an older relay, and stay under an old key after
 * a rotation, so that dropping that key would lose them.
 *
 * **A new sealed column must be listed here**, one line each (e.g. a connection's tokens:
 * `{ table: 'connections', column: 'access_token', row: 'id' }`), and its part seals and opens it
 * with `placeOf` on the same entry, so that the walk and the part agree on every value's place.
 */
export interface SealedColumn {
  readonly table: string;
  readonly column: string;
  /**
   * The row's part of the value's place (associated data `table.column:<row>`): a column (or SQL
   * expression) that is unique in the table, never changes for the row, and is known when the
   * value is sealed. The walk also pages by it, so it should be the primary key.
   */
  readonly row: string;
  /** Only these rows hold a sealed value (a constant SQL condition: another row of the table is not a secret). */
  readonly where?: string;
  /** A column kept beside it with the clear value's SHA-256 (hex), set when a clear value is sealed, so comparing never opens one. */
  readonly sha256Column?: string;
}

/** Concur's request token of a connection request: an OAuth credential, for 15 minutes. */
export const REQUEST_TOKEN = { table: 'requests', column: 'request_token', row: 'id', sha256Column: 'request_token_sha256' } as const satisfies SealedColumn;

/** A webhook's signing secrets (the current one and rotated ones still signing). The row is the secret's own id. */
export const WEBHOOK_SECRET = { table: 'webhook_secrets', column: 'secret', row: 'id' } as const satisfies SealedColumn;

/** The relay's own rotated Concur refresh token (with the fingerprint of the configured one it descends from). */
export const REFRESH_TOKEN = {
  table: 'relay_state',
  column: 'value',
  row: 'key',
  where: "key = 'concur.refreshToken'",
} as const satisfies SealedColumn;

/** A traveller's access token, got by the exchange or a refresh (erased, NULL, once revoked). */
export const CONNECTION_ACCESS_TOKEN = { table: 'connections', column: 'access_token', row: 'id' } as const satisfies SealedColumn;

/** A traveller's refresh token (rotated by OAuth 2.0 refreshes). */
export const CONNECTION_REFRESH_TOKEN = { table: 'connections', column: 'refresh_token', row: 'id' } as const satisfies SealedColumn;

export const SEALED_COLUMNS: readonly SealedColumn[] = [
  REQUEST_TOKEN,
  WEBHOOK_SECRET,
  REFRESH_TOKEN,
  CONNECTION_ACCESS_TOKEN,
  CONNECTION_REFRESH_TOKEN,
];

/** Where a value is kept, as the vault binds it: `table.column:row`. */
export function placeOf(column: SealedColumn, row: string | number): string {
  return `${column.table}.${column.column}:${row}`;
}

/** `table.column`, as reports name a column. */
export function nameOf(column: SealedColumn): string {
  return `${column.table}.${column.column}`;
}
