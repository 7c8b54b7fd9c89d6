import type { ColumnCount, RotationReport, Sealing } from '../../store/index.js';
import type { Output } from './keys.js';

/**
 * `vault rotate`: every sealed value re-sealed with RELAY_VAULT_KEY (the store's `sealing.rotate`),
 * and what it did, as counts per column. It never prints a value: a sealed one says nothing, and
 * an opened one is a secret.
 */

/** A progress line per this many values walked in a column, so that a long walk shows it is alive. */
const PROGRESS_EVERY = 1000;

export interface RotateRun {
  database: string;
  /** The ids of the keys given in RELAY_VAULT_OLD_KEYS (the current one is the vault's own). */
  oldKeyIds: readonly string[];
  /**
   * After moving the check value: how long to wait before looking once more for values sealed
   * under another key (RELAY_VAULT_ROTATE_WAIT_SECONDS). 0: no wait and no last look.
   */
  waitMs: number;
  /** Process tests only: halt inside a batch after this many values, to be killed there. */
  haltAfter?: number;
}

export async function runVaultRotate(sealing: Pick<Sealing, 'rotate' | 'keys'>, io: Output, run: RotateRun): Promise<0> {
  const { current, canary } = await sealing.keys();
  const older = run.oldKeyIds.length === 0 ? 'no older keys given' : `older keys given: ${run.oldKeyIds.join(', ')}`;
  io.out(`vault rotate: re-sealing every secret in ${run.database} with key ${current} (${older}); the vault is under key ${canary ?? current}`);

  let written = 0;
  const report = await sealing.rotate({
    onBatch: (count) => {
      const walked = walkedIn(count);
      if (walked % PROGRESS_EVERY === 0) io.out(`${count.column}: ${walked} values walked so far`);
    },
    onWritten: run.haltAfter === undefined ? undefined : () => ++written === run.haltAfter && halt(io, written),
  });

  for (const count of report.columns) io.out(columnLine(count, report.keyId));
  io.out(
    report.canary === 'moved'
      ? `vault check value: moved to key ${report.keyId}, last, now that every value is under it`
      : `vault check value: already under key ${report.keyId}`,
  );
  if (report.canary === 'moved' && run.waitMs > 0) await lastLook(sealing, io, run.waitMs);
  io.out(
    `Done: every secret in ${run.database} is sealed with key ${report.keyId} (${report.passes} passes). Restart the relay without RELAY_VAULT_OLD_KEYS when convenient; the old keys are no longer needed.`,
  );
  return 0;
}

/**
 * A relay still running with the old key as its RELAY_VAULT_KEY (step 2 skipped for it) may have
 * sealed values with it since the last pass; it stops at its next look at the vault
 * (boot/vault-watch.ts). After that, what it sealed is re-sealed here, while the old key is still
 * given, rather than found unreadable once it is gone.
 */
async function lastLook(sealing: Pick<Sealing, 'rotate'>, io: Output, waitMs: number): Promise<void> {
  io.out(`waiting ${Math.round(waitMs / 1000)} s for every running relay to see the new key, then looking once more (RELAY_VAULT_ROTATE_WAIT_SECONDS)`);
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  const late = (await sealing.rotate()).columns.filter((count) => count.resealed + count.sealed > 0);
  if (late.length === 0) {
    io.out('nothing was sealed with another key meanwhile');
    return;
  }
  for (const count of late) {
    io.out(
      `${count.column}: ${count.resealed + count.sealed} sealed meanwhile by a relay still on its old RELAY_VAULT_KEY (it seals no more now; restart it with the new key), re-sealed`,
    );
  }
}

const walkedIn = (count: ColumnCount) => count.sealed + count.resealed + count.current + count.older;

function columnLine(count: ColumnCount, keyId: RotationReport['keyId']): string {
  const parts = [`${count.resealed} re-sealed with key ${keyId}`, `${count.current} already under it`];
  if (count.sealed > 0) parts.push(`${count.sealed} found in clear and sealed`);
  return `${count.column}: ${parts.join(', ')}`;
}

/**
 * Blocks the process for good inside the open transaction, after saying so: a process test kills
 * it there, the way a crash or an operator's kill would land mid-batch.
 */
function halt(io: Output, written: number): void {
  io.err(`vault rotate: halted inside a batch after ${written} values (RELAY_TEST_ROTATE_HALT_AFTER); waiting to be killed`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}
