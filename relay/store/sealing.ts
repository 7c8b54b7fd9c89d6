import type { Vault } from '../vault/vault.js';
import type { StoreContext } from './context.js';
import type { Db } from './db.js';
import { walkColumn, type WalkOptions } from './seal-walk.js';
import { nameOf, placeOf, SEALED_COLUMNS } from './sealed-columns.js';
import {
  CANARY_KEY,
  canaryMove,
  checkCanary,
  firstSealedSql,
  mustOpen,
  RotationPasses,
  sealedCanary,
  vaultKeys,
  type RotationReport,
  type SealedAtOpen,
} from './vault-rules.js';

export { CANARY_KEY, checkCanary, type RotationReport, type SealedAtOpen };

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
      const found = db.prepare<[], { row: string | number; value: string }>(firstSealedSql(column)).get();
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
        checkCanary(vault, canary);
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
  ).run(CANARY_KEY, sealedCanary(vault), at);
}

export type RotateOptions = Pick<WalkOptions, 'batchSize' | 'onBatch' | 'onWritten'>;

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
      const passes = new RotationPasses(vault);
      while (passes.next()) {
        for (const column of SEALED_COLUMNS) passes.add(walkColumn(db, vault, column, { ...options, reseal: 'all' }));
      }
      const canary = db
        .transaction((): RotationReport['canary'] => {
          const move = canaryMove(vault, selectCanary(db));
          if (move === 'moved') writeCanary(db, vault, ctx.now());
          return move;
        })
        .immediate();
      return passes.report(canary);
    },

    keys() {
      return vaultKeys(vault, selectCanary(db));
    },
  };
}
