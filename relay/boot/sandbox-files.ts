import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * What sandbox mode makes on its first start and keeps beside the database (readable by its owner
 * only), so that a demo configured once keeps working across restarts: the API key the extension
 * was given, and the vault key its stored tokens are sealed with. Outside sandbox mode both come
 * from the environment and nothing is written here.
 */

function keptBeside(dbPath: string, name: string, valid: (saved: string) => boolean, make: () => string): string {
  const file = join(dirname(dbPath), name);
  try {
    const saved = readFileSync(file, 'utf8').trim();
    if (valid(saved)) return saved;
  } catch {
    // first start
  }
  const value = make();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}

/** The API key of sandbox mode with no RELAY_API_KEYS. */
export function sandboxApiKey(dbPath: string): string {
  return keptBeside(dbPath, 'sandbox-api-key', (saved) => saved.length >= 16, () => `trl_${randomBytes(24).toString('base64url')}`);
}

/** The file sandbox mode keeps its vault key in (base64). */
export const SANDBOX_VAULT_KEY_FILE = 'sandbox-vault-key';

/** The vault key of sandbox mode with no RELAY_VAULT_KEY: 32 random bytes, base64. */
export function sandboxVaultKey(dbPath: string): string {
  return keptBeside(dbPath, SANDBOX_VAULT_KEY_FILE, (saved) => Buffer.from(saved, 'base64').length === 32, () => randomBytes(32).toString('base64'));
}

/** Sandbox mode's vault key if it made one for the database at `dbPath` (the command line reads it; it never makes one). */
export function savedSandboxVaultKey(dbPath: string): string | undefined {
  try {
    const saved = readFileSync(join(dirname(dbPath), SANDBOX_VAULT_KEY_FILE), 'utf8').trim();
    return Buffer.from(saved, 'base64').length === 32 ? saved : undefined;
  } catch {
    return undefined;
  }
}
