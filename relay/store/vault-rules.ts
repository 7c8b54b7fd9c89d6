import { SEALED_PREFIX, Vault, VaultError } from '../vault/vault.js';
import type { ColumnCount } from './seal-walk.js';
import { placeOf, type SealedColumn } from './sealed-columns.js';

/**
 * What the vault's upkeep decides, whichever database holds the values (sealing.ts,
 * postgres/sealing.ts): the canary and its checks, and the passes of a rotation.
 */

/** The canary's key in relay_state. */
export const CANARY_KEY = 'vault.canary';
/** Not a secret: only whether it opens matters. */
const CANARY_TEXT = 'TripLink Relay vault canary';
const CANARY: SealedColumn = { table: 'relay_state', column: 'value', row: 'key' };
export const CANARY_PLACE = placeOf(CANARY, CANARY_KEY);

/** At most this many passes over every column: the first does the work, the next ones catch what a writer beside it sealed meanwhile. */
const MAX_PASSES = 3;

function wrongKey(sealedWith: string): VaultError {
  return new VaultError(
    `RELAY_VAULT_KEY does not open this database's vault (its values are sealed with key ${sealedWith}); start with the key it was made with, or put that key in RELAY_VAULT_OLD_KEYS and run "vault rotate"`,
  );
}

/** Throws the one-line VaultError unless `vault` opens `sealed`, found at `place`. */
export function mustOpen(vault: Vault, sealed: string, place: string, what: string): void {
  const keyId = Vault.keyIdOf(sealed);
  if (keyId === undefined) throw new VaultError(`this database's ${what} is not a sealed value: it was changed outside the relay`);
  if (!vault.keyIds.includes(keyId)) throw wrongKey(keyId);
  try {
    vault.open(sealed, place);
  } catch {
    throw new VaultError(`this database's ${what} is sealed with key ${keyId} but does not open with it: it was changed outside the relay, or another key has the same id`);
  }
}

/** The check of checkVaultKey on the canary as read (null: none yet), whichever database it was read from. */
export function checkCanary(vault: Vault, canary: string | null): void {
  if (canary !== null) mustOpen(vault, canary, CANARY_PLACE, 'vault check value');
}

/** The canary as it is written, under the vault's current key. */
export function sealedCanary(vault: Vault): string {
  return vault.seal(CANARY_TEXT, CANARY_PLACE);
}

/** At the end of a rotation: whether the canary is to be written under the current key (`moved`) or already is. */
export function canaryMove(vault: Vault, canary: string | null): 'moved' | 'current' {
  if (canary !== null && Vault.keyIdOf(canary) === vault.keyId) return 'current';
  checkCanary(vault, canary);
  return 'moved';
}

/** The key the canary is under, as `Sealing.keys` tells it. */
export function vaultKeys(vault: Vault, canary: string | null): { current: string; canary: string | null } {
  return { current: vault.keyId, canary: canary === null ? null : (Vault.keyIdOf(canary) ?? null) };
}

/** One sealed value of `column`, if it has any (`row`, `value`): what must open when the canary is lost. */
export function firstSealedSql(column: SealedColumn): string {
  return `SELECT ${column.row} AS row, ${column.column} AS value FROM ${column.table}
    WHERE substr(${column.column}, 1, ${SEALED_PREFIX.length}) = '${SEALED_PREFIX}'${column.where === undefined ? '' : ` AND (${column.where})`} LIMIT 1`;
}

/** What opening the store did to the secrets an older relay kept in clear. */
export interface SealedAtOpen {
  /** Per column that had any: how many were sealed. */
  sealed: Array<{ column: string; count: number }>;
  /** Whether the canary was written now (a first start with a vault). */
  canaryWritten: boolean;
}

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

/**
 * The passes of a rotation over every column: the first does the work; the last must find nothing
 * left to do, or a writer beside it sealed values under another key behind the walk.
 */
export class RotationPasses {
  private readonly columns = new Map<string, ColumnCount>();
  private passes = 0;
  private writtenIn: string[] = [];

  constructor(private readonly vault: Vault) {}

  /** Starts another pass, or answers false when the last one found nothing to do. Throws VaultError after MAX_PASSES that all wrote. */
  next(): boolean {
    if (this.passes > 1 && this.writtenIn.length === 0) return false;
    if (this.passes === MAX_PASSES) throw stillAppearing(this.writtenIn, this.vault);
    this.passes++;
    this.writtenIn = [];
    return true;
  }

  /** One column's walk in the current pass. */
  add(count: ColumnCount): void {
    const total = this.columns.get(count.column);
    this.columns.set(count.column, total === undefined ? count : { ...total, sealed: total.sealed + count.sealed, resealed: total.resealed + count.resealed });
    if (count.sealed + count.resealed > 0) this.writtenIn.push(count.column);
  }

  report(canary: RotationReport['canary']): RotationReport {
    return { keyId: this.vault.keyId, columns: [...this.columns.values()], canary, passes: this.passes };
  }
}

function stillAppearing(columns: readonly string[], vault: Vault): VaultError {
  const where = columns.join(', ');
  return new VaultError(
    `values sealed with another key kept appearing in ${where} while "vault rotate" ran: a relay beside it still seals with its old RELAY_VAULT_KEY; restart every relay with RELAY_VAULT_KEY set to the key ${vault.keyId} and the old one in RELAY_VAULT_OLD_KEYS, then run "vault rotate" again (the vault check value stays under the old key until then)`,
  );
}
