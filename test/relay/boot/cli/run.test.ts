import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../../relay/store/index.js';
import { type Vault } from '../../../../relay/vault/vault.js';
import { eventually } from '../../../helpers/relay-process.js';
import { TEST_VAULT } from '../../../helpers/vault.js';
import { DATABASES } from '../../store/databases.js';
import { tempDb } from '../../store/helpers.js';
import { clusterPassword, emptyPgDatabase, hasRelayTables, placePerTest, run, shown, type CliCommand } from './helpers.js';

/**
 * A command from the environment to its exit status, on real databases of both kinds: beside
 * another open store (as a running relay holds one), on a database that is not there, one that
 * cannot be opened, one a newer relay has migrated. On PostgreSQL no line ever holds the URL's
 * password (helpers.ts checks every run).
 */

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function database() {
  const db = tempDb();
  cleanups.push(db.cleanup);
  return db;
}

function open(path: string, vault: Vault = TEST_VAULT): Store {
  const store = openStore(path, { vault });
  cleanups.push(() => store.close());
  return store;
}

const create: CliCommand = { kind: 'keys.create', input: { name: 'Alice', role: 'replier' } };

describe('runCommand', () => {
  it('prints the usage on stdout for help, exit status 0', async () => {
    const { status, out, err } = await run({ kind: 'help' }, {});
    expect(status).toBe(0);
    expect(err).toEqual([]);
    const text = out.join('\n');
    for (const part of ['keys create --name <name> --role <role>', 'keys list', 'keys revoke <id or prefix>', 'viewer, replier, admin, broker', 'RELAY_DB']) {
      expect(text).toContain(part);
    }
    expect(text).toMatch(/Exit status: 0 done; 1 no such key .*; 2 a usage mistake/s);
  });
});

describe.each(DATABASES)('runCommand on $name', (kind) => {
  const place = placePerTest(kind);

  it('works beside another open store (a running relay): a key made or revoked is seen there at once', async () => {
    const relay = await place.harness.store();
    const made = await run(create, { RELAY_DB: place.env });
    expect(made.status).toBe(0);
    expect(made.err.join('\n')).toContain(` in ${place.name}.`);
    const secret = made.out.at(-1)!;
    expect(await relay.keys.find(secret)).toMatchObject({ name: 'Alice', role: 'replier', revokedAt: null });

    const revoked = await run({ kind: 'keys.revoke', idOrPrefix: secret.slice(0, 8) }, { RELAY_DB: place.env });
    expect(revoked.status).toBe(0);
    expect((await relay.keys.find(secret))?.revokedAt).not.toBeNull();
    expect((await relay.audit.list({ limit: 5 })).items.map((entry) => [entry.action, entry.actor.name])).toEqual([
      ['key.revoked', 'cli'],
      ['key.created', 'cli'],
    ]);
  });

  it('a database a newer relay has migrated: one line, exit status 1, nothing written', async () => {
    await place.harness.store();
    await place.harness.closeAll();
    await place.harness.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', '2024-05-01T10:00:00.000Z')");
    const { status, out, err } = await run(create, { RELAY_DB: place.env });
    expect(status).toBe(1);
    expect(out).toEqual([]);
    expect(err).toEqual([expect.stringMatching(/^keys create: the database has schema version 999, but this relay only knows versions up to \d+; run a newer relay$/)]);
    expect(await place.harness.rows('SELECT id FROM api_keys')).toEqual([]);
  });
});

describe('runCommand on SQLite', () => {
  it('refuses a bad variable with one line per problem, exit status 2, and touches no database', async () => {
    const { path } = database();
    const { status, out, err } = await run(create, { RELAY_DB: `${path}/`, LOG_LEVEL: 'loud' });
    expect(status).toBe(2);
    expect(out).toEqual([]);
    expect(err).toEqual([
      `keys create: RELAY_DB: must be a file, not a folder (got "${path}/"); e.g. RELAY_DB=./data/relay.sqlite`,
      'keys create: LOG_LEVEL: must be fatal, error, warn, info, debug, trace or silent (got "loud"); e.g. LOG_LEVEL=info',
    ]);
    expect(existsSync(path)).toBe(false);
  });

  it('does not list, revoke or rotate in a database that is not there (a wrong RELAY_DB), nor make one', async () => {
    const { path } = database();
    for (const command of [{ kind: 'keys.list' }, { kind: 'keys.revoke', idOrPrefix: 'trl_AbCd' }, { kind: 'vault.rotate' }] as const) {
      const { status, out, err } = await run(command, { RELAY_DB: path });
      expect(status).toBe(1);
      expect(out).toEqual([]);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(/^(keys list|keys revoke|vault rotate): there is no database at .*relay\.sqlite; set RELAY_DB to the relay's own/);
    }
    expect(existsSync(path)).toBe(false);
  });

  it('makes the database for a first key, and says so', async () => {
    const { path } = database();
    const { status, out, err } = await run(create, { RELAY_DB: path });
    expect(status).toBe(0);
    expect(err[0]).toMatch(/^keys create: made a new database at .*relay\.sqlite; the relay must run with RELAY_DB=/);
    expect(open(path).keys.find(out.at(-1)!)?.name).toBe('Alice');
  });

  it('a database that cannot be opened: one line, exit status 1', async () => {
    const { dir } = database();
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, 'x');
    const { status, out, err } = await run(create, { RELAY_DB: join(file, 'relay.sqlite') });
    expect(status).toBe(1);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^keys create: cannot open the database /);
  });
});

describe('runCommand on PostgreSQL', () => {
  const place = placePerTest(DATABASES[1]!);

  it('a revocation made here is heard at once by every relay on the database (NOTIFY), which ends the key\'s event streams there', async () => {
    const relays = [await place.harness.store(), await place.harness.store()];
    const heard = relays.map(() => [] as string[]);
    relays.forEach((relay, i) => relay.keys.onRevoked((keyId) => heard[i]!.push(keyId)));
    const secret = (await run(create, { RELAY_DB: place.env })).out.at(-1)!;
    const { id } = (await relays[0]!.keys.find(secret))!;
    expect((await run({ kind: 'keys.revoke', idOrPrefix: id }, { RELAY_DB: place.env })).status).toBe(0);
    await eventually(() => heard.every((ids) => ids.length === 1), 5_000);
    expect(heard).toEqual([[id], [id]]);
  });

  it('does not list, revoke or rotate in a database without the relay tables (a wrong RELAY_DB), nor make them; keys create makes them and says so', async () => {
    const empty = await emptyPgDatabase();
    cleanups.push(empty.drop);
    for (const command of [{ kind: 'keys.list' }, { kind: 'keys.revoke', idOrPrefix: 'trl_AbCd' }, { kind: 'vault.rotate' }] as const) {
      const { status, out, err } = await run(command, { RELAY_DB: empty.url });
      expect({ status, out, err }).toEqual({
        status: 1,
        out: [],
        err: [expect.stringMatching(new RegExp(`^(keys list|keys revoke|vault rotate): the database ${escape(shown(empty.url))} has no relay tables; set RELAY_DB to the relays' own database$`))],
      });
    }
    expect(await hasRelayTables(empty.url)).toBe(false);

    const made = await run(create, { RELAY_DB: empty.url });
    expect(made.status).toBe(0);
    expect(made.err[0]).toBe(`keys create: made the relay's tables in the database ${shown(empty.url)}; the relays must run with RELAY_DB set to it for the key to work there`);
    expect(await hasRelayTables(empty.url)).toBe(true);
    expect((await run({ kind: 'keys.list' }, { RELAY_DB: empty.url })).out.join('\n')).toContain(' Alice ');
  });

  it('a database that is not there, a wrong password, a server that does not answer: one line each, exit status 1, never the password', async () => {
    const url = new URL(place.env);
    const missing = Object.assign(new URL(url.href), { pathname: '/relay_no_such_database' });
    const wrongPassword = Object.assign(new URL(url.href), { password: `${url.password}-not-it` });
    const noServer = Object.assign(new URL(url.href), { port: '1' });
    const expected = [
      [missing, /could not be used: database "relay_no_such_database" does not exist$/],
      [wrongPassword, /could not be used: password authentication failed for user "postgres"$/],
      [noServer, /could not be used: connect ECONNREFUSED 127\.0\.0\.1:1$/],
    ] as const;
    for (const [at, reason] of expected) {
      const { status, out, err } = await run({ kind: 'keys.list' }, { RELAY_DB: at.href });
      expect({ status, out, lines: err.length }).toEqual({ status: 1, out: [], lines: 1 });
      expect(err[0]).toMatch(new RegExp(`^keys list: the database at ${escape(shown(at.href))} `));
      expect(err[0]).toMatch(reason);
      expect(err[0]).not.toContain(`${url.password}-not-it`);
    }
    expect(clusterPassword()).not.toBe('');
  });

  it('needs RELAY_VAULT_KEY (there is no key file beside a PostgreSQL database): one line, exit status 2, nothing made', async () => {
    const { status, out, err } = await run(create, { RELAY_DB: place.env, RELAY_VAULT_KEY: undefined });
    expect({ status, out }).toEqual({ status: 2, out: [] });
    expect(err).toEqual([expect.stringMatching(/^keys create: RELAY_VAULT_KEY: not set; the relay's database seals its secrets with it: run the command in the relay's environment \(on PostgreSQL, in sandbox mode too\)$/)]);
    expect(await place.harness.rows('SELECT id FROM api_keys')).toEqual([]);
  });
});

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

