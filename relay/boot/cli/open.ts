import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliConfig } from '../../base/cli-config.js';
import type { Logger } from '../../base/log.js';
import { openStore, SchemaTooNewError, type StoreParts } from '../../store/index.js';
import { openPgStore } from '../../store/postgres/index.js';
import { openPool } from '../../store/postgres/pool.js';
import { parseVaultKey, Vault, VaultError } from '../../vault/vault.js';
import { savedSandboxVaultKey, SANDBOX_VAULT_KEY_FILE } from '../sandbox-files.js';

/**
 * The relay's database as the command line opens it, whichever RELAY_DB names: an SQLite file
 * (beside a running relay: WAL, a busy timeout) or a PostgreSQL database (beside any number of
 * relays: the same store parts they run on, so a key made or revoked here is theirs at once, a
 * revocation NOTIFYed to each). Every problem on the way is one sentence and an exit status; no
 * sentence ever holds the URL's password.
 */

export interface CliDatabase {
  store: StoreParts & { close(): void | Promise<void> };
  /** How messages name the database: the file's absolute path, or the URL without its password. */
  name: string;
  vault: Vault;
  /** The database (SQLite) or the relay's tables in it (PostgreSQL) were made now. */
  made: boolean;
  /** Turns an error met on the way into its sentence. */
  sentence(error: unknown): string;
}

export interface CliProblem {
  status: 1 | 2;
  /** The sentence, without the command's prefix. */
  line: string;
}

export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * The sentence for an error: a VaultError's (it says which key the database needs) or a schema's
 * alone, anything else (a database that cannot write, stays locked, cannot be reached) as the
 * database not usable. On PostgreSQL the password is taken out, should a driver's message hold it.
 */
function sentenceFor(name: string, passwords: readonly string[] = []) {
  return (error: unknown): string => {
    const message = withoutPasswords(messageOf(error), passwords);
    return error instanceof VaultError || error instanceof SchemaTooNewError ? message : `the database at ${name} could not be used: ${message}`;
  };
}

const withoutPasswords = (text: string, passwords: readonly string[]): string =>
  passwords.reduce((rest, password) => rest.split(password).join('***'), text);

/**
 * Opens the database RELAY_DB names, making it (or its tables) only when `mayCreate`: listing,
 * revoking or rotating where there is no relay database is a wrong RELAY_DB, not an empty list.
 */
export async function openCliDatabase(config: CliConfig, mayCreate: boolean, logger: Logger): Promise<CliDatabase | CliProblem> {
  const { database } = config;
  const existed = database.kind === 'sqlite' && existsSync(database.path);
  if (database.kind === 'sqlite' && !existed && !mayCreate) {
    return { status: 1, line: `there is no database at ${resolve(database.path)}; set RELAY_DB to the relay's own (default ./data/relay.sqlite, from where the relay was started)` };
  }
  const key = config.vaultKey ?? (database.kind === 'sqlite' ? savedSandboxVaultKey(database.path) : undefined);
  if (key === undefined) {
    const beside = database.kind === 'sqlite' ? ` (sandbox mode keeps its key beside the database, in ${SANDBOX_VAULT_KEY_FILE})` : ' (on PostgreSQL, in sandbox mode too)';
    return { status: 2, line: `RELAY_VAULT_KEY: not set; the relay's database seals its secrets with it: run the command in the relay's environment${beside}` };
  }
  const vault = new Vault({ current: parseVaultKey(key)!, old: config.vaultOldKeys.map((old) => parseVaultKey(old)!) });
  const onListenerError = (err: unknown) => logger.error({ err }, 'event listener failed');

  if (database.kind === 'sqlite') {
    const name = resolve(database.path);
    const sentence = sentenceFor(name);
    try {
      const store = openStore(database.path, { vault, onListenerError });
      warnIfMigrated(store, logger);
      return { store, name, vault, made: !existed, sentence };
    } catch (error) {
      // openStore's own sentences (cannot open, schema too new, a key that does not open it) stand alone.
      return { status: 1, line: messageOf(error) };
    }
  }

  const name = database.shown;
  const passwords = passwordsOf(database.url);
  const sentence = sentenceFor(name, passwords);
  try {
    const hasTables = await relayTablesIn(database.url);
    if (!hasTables && !mayCreate) {
      return { status: 1, line: `the database ${name} has no relay tables; set RELAY_DB to the relays' own database` };
    }
    const store = await openPgStore(database.url, {
      vault,
      onListenerError,
      // Messages only: pg's errors may carry its client, and with it the password.
      onConnectionError: (error) => logger.warn({ database: name, message: withoutPasswords(error.message, passwords) }, 'a connection to PostgreSQL ended'),
      pool: { max: 2, applicationName: 'triplink-relay cli' },
    });
    warnIfMigrated(store, logger);
    return { store, name, vault, made: !hasTables, sentence };
  } catch (error) {
    return { status: 1, line: sentence(error) };
  }
}

/** The password as given and as the driver decodes it: either may turn up in a message. */
function passwordsOf(url: string): string[] {
  const given = new URL(url).password;
  let decoded = given;
  try {
    decoded = decodeURIComponent(given);
  } catch {
    // Not percent-encoding the driver could read either: only the text as given can turn up.
  }
  return [...new Set([given, decoded])].filter((password) => password !== '');
}

/** Whether the relay has made its tables in the database (a wrong database name has none). */
async function relayTablesIn(url: string): Promise<boolean> {
  const pool = openPool(url, { max: 1, applicationName: 'triplink-relay cli' });
  try {
    const { rows } = await pool.query<{ present: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS present");
    return rows[0]?.present === true;
  } finally {
    await pool.end();
  }
}

function warnIfMigrated(store: Pick<StoreParts, 'migration'>, logger: Logger): void {
  // The bundle was upgraded under a relay that may still run the old schema (not for a database made now).
  if (store.migration.from > 0 && store.migration.applied.length > 0) {
    logger.warn({ from: store.migration.from, to: store.migration.to }, 'the command brought the database schema up to date; restart the relay if it runs an older version');
  }
}
