import { createHash } from 'node:crypto';
import { SEALED_PREFIX, Vault, VaultError } from '../vault/vault.js';
import type { Db } from './db.js';
import { nameOf, placeOf, type SealedColumn } from './sealed-columns.js';

/**
 * One walk over one sealed column (sealed-columns.ts), in small transactions of its own, paged by
 * the row key: what sealing at open and `vault rotate` share. Each transaction is IMMEDIATE (a
 * deferred one that read first could not write once the relay beside it had committed) and short,
 * so that a relay running on the same file waits for a batch at most, never for the whole walk.
 *
 * Every decision is taken on the value as it is now (`Vault.keyIdOf`), never on what an earlier
 * run did: a walk killed half-way leaves each value either as it was or sealed anew, and the next
 * walk skips what is done. Each row is written only if it still holds the value read, a guard the
 * IMMEDIATE transaction already gives, kept so that no write can ever undo someone else's.
 */

export const DEFAULT_BATCH_SIZE = 100;

/** What a walk found and did in one column. */
export interface ColumnCount {
  /** `table.column`. */
  column: string;
  /** Kept in clear (by an older relay), now sealed. */
  sealed: number;
  /** Sealed with an older key, now sealed again with the current one. */
  resealed: number;
  /** Already under the current key: left alone. */
  current: number;
  /** Under an older key and left so (sealing at open touches clear values only). */
  older: number;
}

export interface WalkOptions {
  /** `clear`: seal clear values only (opening the store). `all`: also re-seal every value under another key (rotation). */
  reseal: 'clear' | 'all';
  batchSize?: number;
  /** After each committed batch, with the counts so far. */
  onBatch?(count: Readonly<ColumnCount>): void;
  /** Inside a batch's transaction, after each value it wrote (a process test halts there, to be killed mid-batch). */
  onWritten?(): void;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export type Row = { row: string | number; value: string };

/**
 * The walk's statements, with `@` parameters (either database's form of them): `first` and
 * `after` read a batch (`@limit` rows, after the row key `@last`), `update` writes one value if
 * the row still holds `@before`.
 */
export function walkSql(column: SealedColumn, reseal: WalkOptions['reseal']): { first: string; after: string; update: string } {
  const { table, column: name, row } = column;
  const filter = [
    `${name} IS NOT NULL`,
    // At open only clear values are wanted: the database skips the sealed ones without handing them over.
    ...(reseal === 'clear' ? [`substr(${name}, 1, ${SEALED_PREFIX.length}) <> '${SEALED_PREFIX}'`] : []),
    ...(column.where === undefined ? [] : [`(${column.where})`]),
  ].join(' AND ');
  const select = `SELECT ${row} AS row, ${name} AS value FROM ${table} WHERE ${filter}`;
  const sha = column.sha256Column === undefined ? '' : `, ${column.sha256Column} = @sha`;
  return {
    first: `${select} ORDER BY ${row} LIMIT @limit`,
    after: `${select} AND ${row} > @last ORDER BY ${row} LIMIT @limit`,
    update: `UPDATE ${table} SET ${name} = @value${sha} WHERE ${row} = @row AND ${name} = @before`,
  };
}

/** What a walk writes for one value read, counted in `count`; undefined when the value stays as it is. */
export function resealOne(vault: Vault, column: SealedColumn, reseal: WalkOptions['reseal'], { row, value }: Row, count: ColumnCount): { row: string | number; before: string; value: string; sha: string } | undefined {
  const place = placeOf(column, row);
  const keyId = Vault.keyIdOf(value);
  if (keyId === vault.keyId) {
    count.current++;
    return undefined;
  }
  if (keyId !== undefined && reseal === 'clear') {
    count.older++;
    return undefined;
  }
  const plain = keyId === undefined ? value : openAt(vault, value, place, column, row);
  if (keyId === undefined) count.sealed++;
  else count.resealed++;
  return { row, before: value, value: vault.seal(plain, place), sha: column.sha256Column === undefined ? '' : sha256Hex(plain) };
}

/** A walk's batch size as given (at least 1). */
export function batchSizeOf(options: WalkOptions): number {
  return Math.max(1, Math.trunc(options.batchSize ?? DEFAULT_BATCH_SIZE));
}

function statements(db: Db, column: SealedColumn, reseal: WalkOptions['reseal']) {
  const sql = walkSql(column, reseal);
  return {
    first: db.prepare<[{ limit: number }], Row>(sql.first),
    after: db.prepare<[{ last: string | number; limit: number }], Row>(sql.after),
    update: db.prepare<[{ row: string | number; before: string; value: string; sha: string }]>(sql.update),
  };
}

export function walkColumn(db: Db, vault: Vault, column: SealedColumn, options: WalkOptions): ColumnCount {
  const sql = statements(db, column, options.reseal);
  const size = batchSizeOf(options);
  const count: ColumnCount = { column: nameOf(column), sealed: 0, resealed: 0, current: 0, older: 0 };

  const batch = db.transaction((last: string | number | undefined): Row[] => {
    const rows = last === undefined ? sql.first.all({ limit: size }) : sql.after.all({ last, limit: size });
    for (const read of rows) {
      const write = resealOne(vault, column, options.reseal, read, count);
      if (write === undefined) continue;
      sql.update.run(write);
      options.onWritten?.();
    }
    return rows;
  });

  let last: string | number | undefined;
  for (;;) {
    const rows = batch.immediate(last);
    if (rows.length > 0) options.onBatch?.({ ...count });
    if (rows.length < size) return count;
    last = rows[rows.length - 1]!.row;
  }
}

function openAt(vault: Vault, value: string, place: string, column: SealedColumn, row: string | number): string {
  try {
    return vault.open(value, place);
  } catch (error) {
    if (!(error instanceof VaultError)) throw error;
    // The row key names the row (a request id, a secret's number), never a secret.
    throw new VaultError(
      `${nameOf(column)} of row ${JSON.stringify(String(row))}: ${error.message}; put the key it was sealed with in RELAY_VAULT_OLD_KEYS and run "vault rotate" again`,
      { cause: error },
    );
  }
}
