import { SEALED_PREFIX, Vault, VaultError } from '../vault/vault.js';
import type { StoreContext } from './context.js';
import type { Db } from './db.js';
import { walkColumn, type ColumnCount, type WalkOptions } from './seal-walk.js';
import { nameOf, placeOf, SEALED_COLUMNS, type SealedColumn } from './sealed-columns.js';

/**
 * The vault's upkeep in the store: the key check at open (the canary), sealing what an older relay
 * kept in clear, and `vault rotate`.
 *
 * The canary is a known text sealed in `relay_state` under the key the database's values are
 * sealed with. A relay given another key stops at open with one line, before it writes anything:
 * it could neither read the stored secrets nor, worse, seal new ones under a key nothing else is
 * under. A rotation moves it to the new key last, after every value: while it is unfinished the
 * canary still needs the old key, so a relay started with the new key alone refuses to start
 * (it could not read what is not moved yet), and one started with the old key in
 * RELAY_VAULT_OLD_KEYS reads everything, whichever key each value is under.
 */

/** The canary's key in relay_state. */
export const CANARY_KEY = 'vault.canary';
/** Not a secret: only whether it opens matters. */
const CANARY_TEXT = 'TripLink Relay vault canary';
const CANARY: SealedColumn = { table: 'relay_state', column: 'value', row: 'key' };
const CANARY_PLACE = placeOf(CANARY, CANARY_KEY);

/** At most this many passes over every column: the first does the work, the next ones catch what a writer beside it sealed meanwhile. */
const MAX_PASSES = 3;

function wrongKey(sealedWith: string): VaultError {
  return new VaultError(
    `RELAY_VAULT_KEY does not open this database's vault (its values are sealed with key ${sealedWith}); start with the key it was made with, or put that key in RELAY_VAULT_OLD_KEYS and run "vault rotate"`,
  );
}

/** Throws the one-line VaultError unless `vault` opens `sealed`, found at `place`. */
function mustOpen(vault: Vault, sealed: string, place: string, what: string): void {
  const keyId = Vault.keyIdOf(sealed);
  if (keyId === undefined) throw new VaultError(`this database's ${what} is not a sealed value: it was changed outside the relay`);
  if (!vault.keyIds.includes(keyId)) throw wrongKey(keyId);
  try {
    vault.open(sealed, place);
  } catch {
    throw new VaultError(`this database's ${what} is sealed with key ${keyId} but does not open with it: it was changed outside the relay, or another key has the same id`);
  }
}

const selectCanary = (db: Db) =>
  db.prepare<[string], { value: string | null }>('SELECT value FROM relay_state WHERE key = ?').get(CANARY_KEY)?.value ?? null;

/**
 * Before anything is migrated or written: the canary, if the database has one, must open with one
 * of the vault's keys; otherwise the one-line VaultError, and the file is left as it was.
 */
export function checkVaultKey(db: Db, vault: Vault): void {
  const hasState = db.prepare("SELECT 1 AS one FROM sqlite_master WHERE type = 'table' AND name = 'relay_state'").get() !== undefined;
  if (!hasState) return;
  checkCanary(vault, selectCanary(db));
}

/** The check of checkVaultKey on the canary as read (null: none yet), whichever database it was read from. */
export function checkCanary(vault: Vault, canary: string | null): void {
  if (canary !== null) mustOpen(vault, canary, CANARY_PLACE, 'vault check value');
}

/** What opening the store did to the secrets an older relay kept in clear. */
export interface SealedAtOpen {
  /** Per column that had any: how many were sealed. */
  sealed: Array<{ column: string; count: number }>;
  /** Whether the canary was written now (a first start with a vault). */
  canaryWritten: boolean;
}

/**
 * After the schema migrations (the new columns must be there, and sealing needs the key): every
 * clear value in a sealed column is sealed, in batches, and the canary is written if there is none.
 * Reopening a database where all is sealed reads and writes nothing but the check.
 */
export function sealAtOpen(db: Db, vault: Vault, now: () => string): SealedAtOpen {
  const canaryBefore = selectCanary(db);
  // No canary, yet sealed values (the canary row lost): those must open, or a wrong key would
  // become the key of the vault alongside them.
  if (canaryBefore === null) {
    for (const column of SEALED_COLUMNS) {
      const found = db
        .prepare<[], { row: string | number; value: string }>(
          `SELECT ${column.row} AS row, ${column.column} AS value FROM ${column.table}
           WHERE substr(${column.column}, 1, ${SEALED_PREFIX.length}) = '${SEALED_PREFIX}'${column.where === undefined ? '' : ` AND (${column.where})`} LIMIT 1`,
        )
        .get();
      if (found !== undefined) mustOpen(vault, found.value, placeOf(column, found.row), `sealed ${nameOf(column)}`);
    }
  }
  const sealed = SEALED_COLUMNS.map((column) => walkColumn(db, vault, column, { reseal: 'clear' }))
    .filter((count) => count.sealed > 0)
    .map((count) => ({ column: count.column, count: count.sealed }));
  const canaryWritten = db
    .transaction((): boolean => {
      // Another process may have opened the new file at the same time: the first canary stays, and must open.
      const canary = selectCanary(db);
      if (canary !== null) {
        mustOpen(vault, canary, CANARY_PLACE, 'vault check value');
        return false;
      }
      writeCanary(db, vault, now());
      return true;
    })
    .immediate();
  return { sealed, canaryWritten };
}

function writeCanary(db: Db, vault: Vault, at: string): void {
  db.prepare<[string, string, string]>(
    `INSERT INTO relay_state (key, value, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  ).run(CANARY_KEY, vault.seal(CANARY_TEXT, CANARY_PLACE), at);
}

export type RotateOptions = Pick<WalkOptions, 'batchSize' | 'onBatch' | 'onWritten'>;

export interface RotationReport {
  /** The key every value is sealed with now. */
  keyId: string;
  /** Per sealed column, in the registry's order: re-sealed and sealed over all passes; `current`: already under the key when the rotation began. */
  columns: ColumnCount[];
  /** The canary: moved to the key now, or already there (a rotation run again). */
  canary: 'moved' | 'current';
  /** Passes over every column: 2 unless a writer beside it sealed values under another key meanwhile (the last finds nothing to do). */
  passes: number;
}

/** The vault's upkeep as a part of the store. */
export interface Sealing {
  /**
   * Re-seals every value of every sealed column with the vault's current key, then the canary.
   * Resumable: run again after a crash, it skips what is done. Throws VaultError for a value under
   * a key the vault was not given, and when values under another key keep appearing (a relay
   * beside it still seals with the old key).
   */
  rotate(options?: RotateOptions): RotationReport;
  /** The vault's current key, and the key the canary is under (another while a rotation is unfinished). */
  keys(): { current: string; canary: string | null };
}

export function createSealing(ctx: StoreContext): Sealing {
  const { db, vault } = ctx;
  return {
    rotate(options = {}) {
      const columns = new Map<string, ColumnCount>();
      let passes = 0;
      let writtenIn: string[] = [];
      // The first pass does the work; the last must find nothing left to do, or a writer beside it
      // sealed values under another key behind the walk.
      do {
        if (passes === MAX_PASSES) throw stillAppearing(writtenIn, vault);
        passes++;
        writtenIn = [];
        for (const column of SEALED_COLUMNS) {
          const count = walkColumn(db, vault, column, { ...options, reseal: 'all' });
          const total = columns.get(count.column);
          columns.set(count.column, total === undefined ? count : { ...total, sealed: total.sealed + count.sealed, resealed: total.resealed + count.resealed });
          if (count.sealed + count.resealed > 0) writtenIn.push(count.column);
        }
      } while (passes === 1 || writtenIn.length > 0);
      const canary = db
        .transaction((): RotationReport['canary'] => {
          const value = selectCanary(db);
          if (value !== null && Vault.keyIdOf(value) === vault.keyId) return 'current';
          if (value !== null) mustOpen(vault, value, CANARY_PLACE, 'vault check value');
          writeCanary(db, vault, ctx.now());
          return 'moved';
        })
        .immediate();
      return { keyId: vault.keyId, columns: [...columns.values()], canary, passes };
    },

    keys() {
      const canary = selectCanary(db);
      return { current: vault.keyId, canary: canary === null ? null : (Vault.keyIdOf(canary) ?? null) };
    },
  };
}

function stillAppearing(columns: readonly string[], vault: Vault): VaultError {
  const where = columns.join(', ');
  return new VaultError(
    `values sealed with another key kept appearing in ${where} while "vault rotate" ran: a relay beside it still seals with its old RELAY_VAULT_KEY; restart every relay with RELAY_VAULT_KEY set to the key ${vault.keyId} and the old one in RELAY_VAULT_OLD_KEYS, then run "vault rotate" again (the vault check value stays under the old key until then)`,
  );
}
