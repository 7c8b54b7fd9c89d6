import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { parseCliConfig, type CliConfig } from '../../base/cli-config.js';
import { createLogger } from '../../base/log.js';
import { openStore, type Store, type StoreParts } from '../../store/index.js';
import { parseVaultKey, Vault, VaultError } from '../../vault/vault.js';
import { savedSandboxVaultKey, SANDBOX_VAULT_KEY_FILE } from '../sandbox-files.js';
import type { Command } from './args.js';
import { runKeysCommand, type KeysCommand, type Output } from './keys.js';
import { USAGE } from './usage.js';
import { runVaultRotate } from './vault.js';

/**
 * A command line's command, from the environment to its exit status: the usage, or a `keys` or
 * `vault` command on the relay's database. The database may be in use by a running relay (SQLite in WAL
 * mode, a busy timeout for its writes), and the relay reads keys from it at every call, so a key
 * made or revoked here counts at the relay's next call, without a restart.
 *
 * Exit status: 0 done; 1 no such key, the database cannot be used, or the vault's keys do not open
 * it; 2 a usage mistake (a bad variable here; the arguments were checked before, by args.ts).
 */

export type CliCommand = Exclude<Command, { kind: 'service' }>;

export interface CliIo extends Output {
  env: Record<string, string | undefined>;
}

export async function runCommand(command: CliCommand, io: CliIo): Promise<number> {
  if (command.kind === 'help') {
    for (const line of USAGE.trimEnd().split('\n')) io.out(line);
    return 0;
  }
  if (command.kind === 'vault.rotate') {
    return await onStore('vault rotate', false, io, (store, { database, vault, config }) =>
      runVaultRotate(store.sealing, io, {
        database,
        oldKeyIds: vault.keyIds.slice(1),
        haltAfter: config.rotateHaltAfter,
      }),
    );
  }
  return await onStore(WHERE[command.kind], command.kind === 'keys.create', io, (store, { database }) =>
    runKeysCommand(command, store.keys, io, database),
  );
}

const WHERE: Readonly<Record<KeysCommand['kind'], string>> = {
  'keys.create': 'keys create',
  'keys.list': 'keys list',
  'keys.revoke': 'keys revoke',
};

interface Opened {
  /** The database's absolute path, as messages name it. */
  database: string;
  vault: Vault;
  config: CliConfig;
}

/**
 * Reads the environment, opens the relay's database (making it only when `mayCreate`) and runs
 * `use` on it: every problem on the way is one line, prefixed with `where`.
 */
async function onStore(where: string, mayCreate: boolean, io: CliIo, use: (store: StoreParts, opened: Opened) => Promise<number>): Promise<number> {
  const parsed = parseCliConfig(io.env);
  if (!parsed.ok) {
    for (const problem of parsed.problems) io.err(`${where}: ${problem}`);
    return 2;
  }
  const config = parsed.config;
  const { dbPath, logLevel, vaultKey, vaultOldKeys } = config;
  const database = resolve(dbPath);
  const existed = existsSync(dbPath);
  // Listing, revoking or rotating in a database that is not there is a wrong RELAY_DB, not an empty list.
  if (!existed && !mayCreate) {
    io.err(`${where}: there is no database at ${database}; set RELAY_DB to the relay's own (default ./data/relay.sqlite, from where the relay was started)`);
    return 1;
  }
  // Synchronous, on stderr: stdout carries the command's answer alone, and the process ends right after.
  const logger = createLogger({ level: logLevel, destination: pino.destination({ dest: 2, sync: true }) });

  const key = vaultKey ?? savedSandboxVaultKey(dbPath);
  if (key === undefined) {
    io.err(
      `${where}: RELAY_VAULT_KEY: not set; the relay's database seals its secrets with it: run the command in the relay's environment (sandbox mode keeps its key beside the database, in ${SANDBOX_VAULT_KEY_FILE})`,
    );
    return 2;
  }
  const vault = new Vault({ current: parseVaultKey(key)!, old: vaultOldKeys.map((old) => parseVaultKey(old)!) });

  let store: Store;
  try {
    store = openStore(dbPath, { vault, onListenerError: (err) => logger.error({ err }, 'event listener failed') });
  } catch (error) {
    // A wrong vault key among them: the VaultError's one line says which key the database needs.
    io.err(`${where}: ${messageOf(error)}`);
    return 1;
  }
  try {
    if (!existed) {
      io.err(`${where}: made a new database at ${database}; the relay must run with RELAY_DB=${dbPath} for the key to work there`);
    } else if (store.migration.applied.length > 0) {
      // The bundle was upgraded under a relay that may still run the old schema.
      logger.warn({ from: store.migration.from, to: store.migration.to }, 'the command brought the database schema up to date; restart the relay if it runs an older version');
    }
    return await use(store, { database, vault, config });
  } catch (error) {
    // A database that cannot write (full, read-only) or stays locked, a value no key opens: the sentence, not a stack.
    io.err(`${where}: ${error instanceof VaultError ? '' : `the database at ${database} could not be used: `}${messageOf(error)}`);
    return 1;
  } finally {
    await store.close();
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
