import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { parseCliConfig } from '../../base/cli-config.js';
import { createLogger } from '../../base/log.js';
import { openStore, type Store } from '../../store/index.js';
import { parseVaultKey, Vault } from '../../vault/vault.js';
import { savedSandboxVaultKey, SANDBOX_VAULT_KEY_FILE } from '../sandbox-files.js';
import type { Command } from './args.js';
import { runKeysCommand, type KeysCommand, type Output } from './keys.js';
import { USAGE } from './usage.js';

/**
 * A command line's command, from the environment to its exit status: the usage, or a `keys`
 * command on the relay's database. The database may be in use by a running relay (SQLite in WAL
 * mode, a busy timeout for its writes), and the relay reads keys from it at every call, so a key
 * made or revoked here counts at the relay's next call, without a restart.
 *
 * Exit status: 0 done; 1 no such key, or the database cannot be used; 2 a usage mistake (a bad
 * variable here; the arguments were checked before, by args.ts).
 */

export type CliCommand = Exclude<Command, { kind: 'service' }>;

export interface CliIo extends Output {
  env: Record<string, string | undefined>;
}

export function runCommand(command: CliCommand, io: CliIo): number {
  if (command.kind === 'help') {
    for (const line of USAGE.trimEnd().split('\n')) io.out(line);
    return 0;
  }
  return runKeys(command, io);
}

const WHERE: Readonly<Record<KeysCommand['kind'], string>> = {
  'keys.create': 'keys create',
  'keys.list': 'keys list',
  'keys.revoke': 'keys revoke',
};

function runKeys(command: KeysCommand, io: CliIo): number {
  const where = WHERE[command.kind];
  const parsed = parseCliConfig(io.env);
  if (!parsed.ok) {
    for (const problem of parsed.problems) io.err(`${where}: ${problem}`);
    return 2;
  }
  const { dbPath, logLevel, vaultKey, vaultOldKeys } = parsed.config;
  const database = resolve(dbPath);
  const existed = existsSync(dbPath);
  // Listing or revoking in a database that is not there is a wrong RELAY_DB, not an empty list.
  if (!existed && command.kind !== 'keys.create') {
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
    io.err(`${where}: ${messageOf(error)}`);
    return 1;
  }
  try {
    if (!existed) {
      io.err(`${where}: made a new database at ${database}; the relay must run with RELAY_DB=${dbPath} for the key to work there`);
    } else if (store.migration.applied.length > 0) {
      // The bundle was upgraded under a relay that may still run the old schema.
      logger.warn({ from: store.migration.from, to: store.migration.to }, 'the keys command brought the database schema up to date; restart the relay if it runs an older version');
    }
    return runKeysCommand(command, store.keys, io, database);
  } catch (error) {
    // A database that cannot write (full, read-only) or stays locked: the sentence, not a stack.
    io.err(`${where}: the database at ${database} could not be used: ${messageOf(error)}`);
    return 1;
  } finally {
    store.close();
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
