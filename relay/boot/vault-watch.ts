import type { Logger } from '../base/log.js';
import type { Sealing } from '../store/index.js';
import type { Vault } from '../vault/vault.js';
import { quietly } from '../workers/options.js';

/**
 * Whether the database's vault has moved on without this relay: the vault check value under a key
 * this relay was not given. That happens when `vault rotate` finished while this relay still runs
 * with the old key as RELAY_VAULT_KEY (step 2 of the rotation skipped for it). Every value it
 * sealed from then on would be under the old key, and would not open once the old key is gone
 * (step 4). So the relay stops sealing (Vault.fence): writes that would seal a secret fail, every
 * other write and every read go on, /healthz answers 503 with the reason, and the log says once
 * what to do. `vault rotate` waits ROTATE_SETTLE_MS after it moved the check value and re-seals
 * whatever such a relay sealed before it noticed (boot/cli/vault.ts).
 */

/** How often a relay reads which key the vault check value is under. */
export const VAULT_WATCH_MS = 5_000;
/** How long `vault rotate` waits, after moving the check value, for every running relay to have looked. */
export const ROTATE_SETTLE_MS = 2 * VAULT_WATCH_MS + 2_000;

export interface VaultWatch {
  /** Looks now (the timer looks every interval). */
  check(): Promise<void>;
  stop(): void;
}

export interface VaultWatchDeps {
  sealing: Pick<Sealing, 'keys'>;
  vault: Vault;
  logger: Pick<Logger, 'warn' | 'error'>;
  /** Default VAULT_WATCH_MS. */
  intervalMs?: number;
}

/** At a relay's start: says so when the vault is still under an older key (a rotation under way), and watches it from then on. */
export async function watchVaultFromStart(deps: VaultWatchDeps): Promise<VaultWatch> {
  const { vault, logger } = deps;
  const { canary } = await deps.sealing.keys();
  if (canary !== null && canary !== vault.keyId) {
    logger.warn(
      { keyId: vault.keyId, sealedWith: canary },
      'the vault is not under RELAY_VAULT_KEY yet: values sealed with an older key are read with RELAY_VAULT_OLD_KEYS; run "vault rotate" to finish the rotation',
    );
  }
  return watchVaultKey(deps);
}

export function watchVaultKey(deps: VaultWatchDeps): VaultWatch {
  const { sealing, vault, logger } = deps;
  async function check(): Promise<void> {
    if (vault.fenced !== null) return;
    let canary: string | null;
    try {
      ({ canary } = await sealing.keys());
    } catch {
      // A store that cannot be read says so on /healthz already; this looks again next time.
      return;
    }
    if (canary === null || vault.keyIds.includes(canary)) return;
    const reason =
      `the vault was rotated to key ${canary}, which this relay was not given (its RELAY_VAULT_KEY is key ${vault.keyId}): ` +
      `it seals no more secrets, since they would not open once the old key is gone; restart it with RELAY_VAULT_KEY set to key ${canary}`;
    vault.fence(reason);
    quietly(() => logger.error({ keyId: vault.keyId, sealedWith: canary }, reason));
  }
  const timer = setInterval(() => void check(), deps.intervalMs ?? VAULT_WATCH_MS);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}
