import { z } from 'zod';
import { DatabaseLocationSchema, DEFAULT_DB_PATH, LogLevel } from './config-shape.js';
import { envEnum, envList, envNumber, envVaultKey, problemLines, vaultKeyItem } from './env-fields.js';
import { envDatabase } from './env-database.js';

/**
 * The command line's configuration (`relay.mjs keys …`): only the database (a file or a
 * PostgreSQL URL, as the service reads it), its vault key and the log level.
 * It works on the relay's database, so it needs nothing else; a service setting that is missing
 * or wrong (no Concur token, a bad POLL_INTERVAL_SECONDS) must not keep anyone from revoking a
 * key. The other variables are ignored, so the service's own environment file works as it is.
 * Read with the same builders and rules as the service's (config.ts, env-fields.ts).
 */

export const CliConfigSchema = z.object({
  /** RELAY_DB: the relay's SQLite file, or its PostgreSQL database (`shown`: the URL without its password). */
  database: DatabaseLocationSchema,
  logLevel: LogLevel,
  /** RELAY_VAULT_KEY: the database's secrets are sealed with it; null: the sandbox's key file beside an SQLite database (PostgreSQL has none: refused). */
  vaultKey: z.string().nullable(),
  vaultOldKeys: z.array(z.string()),
  /**
   * RELAY_VAULT_ROTATE_WAIT_SECONDS, as ms: how long `vault rotate` waits after moving the vault
   * check value before it looks once more for values a relay still on the old key sealed (such a
   * relay stops sealing at its next look, every 5 s: boot/vault-watch.ts). 0 when no relay runs.
   */
  rotateWaitMs: z.number().int().min(0),
  /**
   * For a process test only (RELAY_TEST_ROTATE_HALT_AFTER): `vault rotate` halts inside a batch's
   * transaction after re-sealing this many values, to be killed there. Unset in any real use.
   */
  rotateHaltAfter: z.number().int().positive().optional(),
});
export type CliConfig = z.infer<typeof CliConfigSchema>;

export type ParseCliConfigResult = { ok: true; config: CliConfig } | { ok: false; problems: string[] };

/** Every variable the command line reads, in the order problems are listed. */
const CliEnvVariables = z.object({
  // Read as the service reads it, so a PostgreSQL URL is never taken for a file name (and shown).
  RELAY_DB: envDatabase(DEFAULT_DB_PATH),
  LOG_LEVEL: envEnum(LogLevel.options, 'info'),
  RELAY_VAULT_KEY: envVaultKey(),
  RELAY_VAULT_OLD_KEYS: envList(vaultKeyItem),
  // Two of a relay's looks at the vault (every 5 s), and time to spare.
  RELAY_VAULT_ROTATE_WAIT_SECONDS: envNumber({
    fallback: 12,
    whole: true,
    min: 0,
    max: 600,
    tooLow: 'a whole number of seconds, 0 when no relay is running',
    tooHigh: 'at most 600 seconds',
  }),
  RELAY_TEST_ROTATE_HALT_AFTER: envNumber({ fallback: 0, whole: true, min: 0, max: 1e9, tooLow: 'a whole number of values, 0 for none' }),
});

const CliEnvSchema = CliEnvVariables.transform(
  (env): CliConfig => ({
    database: env.RELAY_DB,
    logLevel: env.LOG_LEVEL,
    vaultKey: env.RELAY_VAULT_KEY ?? null,
    vaultOldKeys: env.RELAY_VAULT_OLD_KEYS ?? [],
    rotateWaitMs: env.RELAY_VAULT_ROTATE_WAIT_SECONDS * 1000,
    rotateHaltAfter: env.RELAY_TEST_ROTATE_HALT_AFTER === 0 ? undefined : env.RELAY_TEST_ROTATE_HALT_AFTER,
  }),
);

/** The environment (normally `process.env`) to the command line's configuration. */
export function parseCliConfig(env: Record<string, string | undefined>): ParseCliConfigResult {
  const result = CliEnvSchema.safeParse(env);
  if (result.success) return { ok: true, config: result.data };
  return { ok: false, problems: problemLines(result.error.issues, CliEnvVariables.keyof().options) };
}
