import { pino } from 'pino';
import { parseCliConfig, type CliConfig } from '../../base/cli-config.js';
import { createLogger } from '../../base/log.js';
import type { StoreParts } from '../../store/index.js';
import type { Vault } from '../../vault/vault.js';
import type { Command } from './args.js';
import { runKeysCommand, type KeysCommand, type Output } from './keys.js';
import { openCliDatabase } from './open.js';
import { USAGE } from './usage.js';
import { runVaultRotate } from './vault.js';

/**
 * A command line's command, from the environment to its exit status: the usage, or a `keys` or
 * `vault` command on the relay's database (open.ts: an SQLite file or a PostgreSQL database). The
 * database may be in use by running relays, which read keys from it at every call, so a key made
 * or revoked here counts at their next call, without a restart.
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
        waitMs: config.rotateWaitMs,
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
  /** The database as messages name it: the file's absolute path, or the URL without its password. */
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
  // Synchronous, on stderr: stdout carries the command's answer alone, and the process ends right after.
  const logger = createLogger({ level: config.logLevel, destination: pino.destination({ dest: 2, sync: true }) });
  const opened = await openCliDatabase(config, mayCreate, logger);
  if ('status' in opened) {
    io.err(`${where}: ${opened.line}`);
    return opened.status;
  }
  const { store, name: database, vault } = opened;
  try {
    if (opened.made) {
      io.err(
        config.database.kind === 'sqlite'
          ? `${where}: made a new database at ${database}; the relay must run with RELAY_DB=${config.database.path} for the key to work there`
          : `${where}: made the relay's tables in the database ${database}; the relays must run with RELAY_DB set to it for the key to work there`,
      );
    }
    return await use(store, { database, vault, config });
  } catch (error) {
    // A database that cannot write (full, read-only) or stays locked, a value no key opens: the sentence, not a stack.
    io.err(`${where}: ${opened.sentence(error)}`);
    return 1;
  } finally {
    await store.close();
  }
}
