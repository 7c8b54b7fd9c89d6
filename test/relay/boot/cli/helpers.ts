import pg from 'pg';
import { afterEach, beforeEach, expect } from 'vitest';
import { runCommand, type CliCommand } from '../../../../relay/boot/cli/run.js';
import { clusterUrl, freshDatabase, onDatabase } from '../../../helpers/postgres.js';
import { TEST_VAULT_KEY } from '../../../helpers/vault.js';
import { DatabaseHarness, type TestDatabase } from '../../store/databases.js';

/** The command line's tests on both databases (run.test.ts, run-vault.test.ts). */

/** The test cluster's password: no line a command prints may hold it. */
export const clusterPassword = (): string => decodeURIComponent(new URL(clusterUrl()).password);

/** A command run in-process, to its exit status and lines; on PostgreSQL, checked to show no password. */
export async function run(command: CliCommand, env: Record<string, string | undefined>) {
  const out: string[] = [];
  const err: string[] = [];
  // No relay runs beside these commands: `vault rotate` need not wait for one to see a new key.
  const status = await runCommand(command, { env: { RELAY_VAULT_KEY: TEST_VAULT_KEY, RELAY_VAULT_ROTATE_WAIT_SECONDS: '0', ...env }, out: (l) => out.push(l), err: (l) => err.push(l) });
  if (env.RELAY_DB?.startsWith('postgres')) expect([...out, ...err].join('\n')).not.toContain(clusterPassword());
  return { status, out, err };
}

/** A PostgreSQL URL as messages show it: the password starred. */
export function shown(url: string): string {
  const u = new URL(url);
  u.password = '***';
  return u.href;
}

export interface Place {
  harness: DatabaseHarness;
  /** RELAY_DB for the harness's database. */
  env: string;
  /** How the command's messages name it. */
  name: string;
}

/** A harness per test on a fresh database of `kind` (with the relay's tables on PostgreSQL, none yet on SQLite). */
export function placePerTest(kind: TestDatabase): Place {
  const place: Place = { harness: new DatabaseHarness(kind), env: '', name: '' };
  beforeEach(async () => {
    place.harness = new DatabaseHarness(kind);
    place.env = kind.kind === 'sqlite' ? place.harness.sqlitePath() : await place.harness.url();
    place.name = kind.kind === 'sqlite' ? place.env : shown(place.env);
  });
  afterEach(() => place.harness.cleanup());
  return place;
}

/** A PostgreSQL database without the relay's tables (a wrong RELAY_DB), dropped by the returned function. */
export async function emptyPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const url = await freshDatabase();
  const name = pg.escapeIdentifier(new URL(url).pathname.slice(1));
  return { url, drop: async () => void (await onDatabase(clusterUrl(), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)) };
}

export const hasRelayTables = async (url: string): Promise<boolean> =>
  (await onDatabase<{ present: boolean }>(url, "SELECT to_regclass('schema_migrations') IS NOT NULL AS present"))[0]!.present;

export type { CliCommand };
