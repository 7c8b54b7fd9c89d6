import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand, type CliCommand } from '../../../../relay/boot/cli/run.js';
import { openStore, type Store } from '../../../../relay/store/index.js';
import { tempDb } from '../../store/helpers.js';
import { TEST_VAULT, TEST_VAULT_KEY } from '../../../helpers/vault.js';

/**
 * A command from the environment to its exit status, on real database files: beside another open
 * connection (as a running relay holds one), on a database that is not there, one that cannot be
 * opened, one a newer relay has migrated.
 */

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function database() {
  const db = tempDb();
  cleanups.push(db.cleanup);
  return db;
}

function open(path: string): Store {
  const store = openStore(path, { vault: TEST_VAULT });
  cleanups.push(() => store.close());
  return store;
}

function run(command: CliCommand, env: Record<string, string | undefined>) {
  const out: string[] = [];
  const err: string[] = [];
  const status = runCommand(command, { env: { RELAY_VAULT_KEY: TEST_VAULT_KEY, ...env }, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { status, out, err };
}

const create: CliCommand = { kind: 'keys.create', input: { name: 'Alice', role: 'replier' } };

describe('runCommand', () => {
  it('prints the usage on stdout for help, exit status 0', () => {
    const { status, out, err } = run({ kind: 'help' }, {});
    expect(status).toBe(0);
    expect(err).toEqual([]);
    const text = out.join('\n');
    for (const part of ['keys create --name <name> --role <role>', 'keys list', 'keys revoke <id or prefix>', 'viewer, replier, admin, broker', 'RELAY_DB']) {
      expect(text).toContain(part);
    }
    expect(text).toMatch(/Exit status: 0 done; 1 no such key .*; 2 a usage mistake/s);
  });

  it('works beside another open connection: a key made or revoked is seen there at once', () => {
    const { path } = database();
    const relay = open(path);
    const made = run(create, { RELAY_DB: path });
    expect(made.status).toBe(0);
    const secret = made.out.at(-1)!;
    expect(relay.keys.find(secret)).toMatchObject({ name: 'Alice', role: 'replier', revokedAt: null });

    const revoked = run({ kind: 'keys.revoke', idOrPrefix: secret.slice(0, 8) }, { RELAY_DB: path });
    expect(revoked.status).toBe(0);
    expect(relay.keys.find(secret)?.revokedAt).not.toBeNull();
    expect(relay.audit.list({ limit: 5 }).items.map((entry) => [entry.action, entry.actor.name])).toEqual([
      ['key.revoked', 'cli'],
      ['key.created', 'cli'],
    ]);
  });

  it('refuses a bad variable with one line per problem, exit status 2, and touches no database', () => {
    const { path } = database();
    const { status, out, err } = run(create, { RELAY_DB: `${path}/`, LOG_LEVEL: 'loud' });
    expect(status).toBe(2);
    expect(out).toEqual([]);
    expect(err).toEqual([
      `keys create: RELAY_DB: must be a file, not a folder (got "${path}/"); e.g. RELAY_DB=./data/relay.sqlite`,
      'keys create: LOG_LEVEL: must be fatal, error, warn, info, debug, trace or silent (got "loud"); e.g. LOG_LEVEL=info',
    ]);
    expect(existsSync(path)).toBe(false);
  });

  it('does not list or revoke in a database that is not there (a wrong RELAY_DB), nor make one', () => {
    const { path } = database();
    for (const command of [{ kind: 'keys.list' }, { kind: 'keys.revoke', idOrPrefix: 'trl_AbCd' }] as const) {
      const { status, out, err } = run(command, { RELAY_DB: path });
      expect(status).toBe(1);
      expect(out).toEqual([]);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(/^keys (list|revoke): there is no database at .*relay\.sqlite; set RELAY_DB to the relay's own/);
    }
    expect(existsSync(path)).toBe(false);
  });

  it('makes the database for a first key, and says so', () => {
    const { path } = database();
    const { status, out, err } = run(create, { RELAY_DB: path });
    expect(status).toBe(0);
    expect(err[0]).toMatch(/^keys create: made a new database at .*relay\.sqlite; the relay must run with RELAY_DB=/);
    expect(open(path).keys.find(out.at(-1)!)?.name).toBe('Alice');
  });

  it('a database that cannot be opened: one line, exit status 1', () => {
    const { dir } = database();
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, 'x');
    const { status, out, err } = run(create, { RELAY_DB: join(file, 'relay.sqlite') });
    expect(status).toBe(1);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^keys create: cannot open the database /);
  });

  it('a database a newer relay has migrated: one line, exit status 1, nothing written', () => {
    const { path } = database();
    open(path).close();
    const raw = new Database(path);
    raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, ?)').run('future', new Date().toISOString());
    raw.close();
    const { status, out, err } = run(create, { RELAY_DB: path });
    expect(status).toBe(1);
    expect(out).toEqual([]);
    expect(err).toEqual([expect.stringMatching(/^keys create: the database has schema version 999, but this relay only knows versions up to \d+; run a newer relay$/)]);
  });
});
