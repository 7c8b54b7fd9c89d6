import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Me } from '../../shared/people.js';
import { startSandbox } from '../../relay/sandbox/server.js';
import { API_KEY as RELAYS_KEY, startRelays } from '../helpers/many-relays.js';
import { clusterUrl, freshDatabase } from '../helpers/postgres.js';
import { connectSse } from '../helpers/sse-client.js';
import {
  buildRelayBundle,
  concurEnv,
  runRelayCommand,
  startRelayProcess,
  tempDb,
  type CommandRun,
  type RelayProcess,
} from '../helpers/relay-process.js';

/**
 * The keys command line as it ships (`node dist/relay.mjs keys …`, the bundle `npm run build:relay`
 * makes), against a relay process running on the same database: a key made while the relay runs
 * works at its next call, a revoked one is refused at its next call, the key itself is printed
 * once and stored nowhere, and every mistake is one line on stderr with the right exit status.
 */

const ADMIN_KEY = 'keys-cli-admin-key-0123456789';
const relays: RelayProcess[] = [];

beforeAll(() => buildRelayBundle(), 60_000);
afterAll(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.stop('SIGKILL')));
});

/** The relay in sandbox mode (its own simulated Concur, no demo trickle) on `db`. */
async function startRelay(db: string): Promise<RelayProcess> {
  const relay = await startRelayProcess({ RELAY_DB: db, RELAY_API_KEYS: ADMIN_KEY, SANDBOX_DEMO_EVERY_SECONDS: '0' }, 15_000, 'bundle');
  relays.push(relay);
  return relay;
}

/** `node dist/relay.mjs keys …` with LOG_LEVEL=debug: not even debug logging may add a line to its answers. */
const keys = (db: string, ...args: string[]) => runRelayCommand(['keys', ...args], { RELAY_DB: db, LOG_LEVEL: 'debug' });

const lines = (text: string) => text.split('\n').filter((line) => line !== '');

function me(relay: RelayProcess, key: string) {
  return fetch(`${relay.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
}

/** The raw bytes of the database and every file SQLite keeps beside it (WAL, shared memory). */
function databaseBytes(db: string): Buffer {
  const files = readdirSync(dirname(db)).filter((name) => name.startsWith(basename(db)));
  expect(files).toContain(basename(db));
  return Buffer.concat(files.map((name) => readFileSync(join(dirname(db), name))));
}

/** One line on stderr, no stack trace, nothing on stdout, and this exit status. */
function expectOneLine(run: CommandRun, status: number): string {
  expect(run.status).toBe(status);
  expect(run.stdout).toBe('');
  expect(lines(run.stderr)).toHaveLength(1);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  return lines(run.stderr)[0]!;
}

describe('node dist/relay.mjs keys …, beside a running relay', () => {
  it('makes a key that works at once, lists it without the key, revokes it for the next call, and never stores it', async () => {
    const db = tempDb();
    const relay = await startRelay(db);

    const created = await keys(db, 'create', '--name', 'Alice', '--role', 'replier');
    expect(created.status).toBe(0);
    const secret = lines(created.stdout).at(-1)!;
    expect(secret).toMatch(/^trl_[A-Za-z0-9_-]{43}$/);
    const prefix = secret.slice(0, 8);
    expect(created.stderr).toContain(`"Alice" (role replier, prefix ${prefix})`);
    expect(created.stderr).toContain('shown only this once');
    expect(created.stderr).not.toContain(secret);

    // The running relay knows it at its next call, without a restart.
    const asAlice = await me(relay, secret);
    expect(asAlice.status).toBe(200);
    expect(Me.parse(await asAlice.json())).toEqual({ name: 'Alice', role: 'replier', prefix });

    const listed = await keys(db, 'list');
    expect(listed.status).toBe(0);
    const table = lines(listed.stdout);
    expect(table[0]).toMatch(/^ID +PREFIX +NAME +ROLE +LAST USED \(UTC\) +CREATED \(UTC\) +REVOKED \(UTC\)$/);
    const row = table.find((line) => line.includes(prefix));
    expect(row).toMatch(new RegExp(`^key_\\S+ +${prefix} +Alice +replier +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +\\d{4}-`));
    expect(row).toMatch(/ -$/);
    // The relay's own admin key (RELAY_API_KEYS) is a record too.
    expect(table.some((line) => / env key 1 +admin /.test(line))).toBe(true);
    expect(listed.stdout + listed.stderr).not.toContain(secret.slice(8));

    const revoked = await keys(db, 'revoke', prefix);
    expect(revoked.status).toBe(0);
    expect(lines(revoked.stdout)).toEqual([expect.stringMatching(new RegExp(`^Revoked API key key_\\S+ "Alice" \\(role replier, prefix ${prefix}\\) at `))]);
    const refused = await me(relay, secret);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    // Other keys are untouched.
    expect((await me(relay, ADMIN_KEY)).status).toBe(200);

    const sqlite = new Database(db, { readonly: true });
    const audit = sqlite.prepare("SELECT action, actor_key_id AS keyId, actor_name AS name FROM audit WHERE actor_name = 'cli' ORDER BY id").all();
    sqlite.close();
    expect(audit).toEqual([
      { action: 'key.created', keyId: null, name: 'cli' },
      { action: 'key.revoked', keyId: null, name: 'cli' },
    ]);

    // Neither while the relay runs (the WAL holds the recent writes) nor after it has stopped.
    expect(databaseBytes(db).includes(Buffer.from(secret.slice(8)))).toBe(false);
    expect(await relay.stop('SIGTERM')).toBe(0);
    expect(databaseBytes(db).includes(Buffer.from(secret.slice(8)))).toBe(false);
  }, 60_000);

  it('needs only RELAY_DB: a service configuration that would not start does not stop key management', async () => {
    const db = tempDb();
    expect((await keys(db, 'create', '--name', 'ops', '--role', 'admin')).status).toBe(0);
    const run = await runRelayCommand(['keys', 'list'], { RELAY_DB: db, CONCUR_BASE_URL: 'ftp://concur', POLL_INTERVAL_SECONDS: '0' });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/ ops +admin /);
  });
});

describe('node dist/relay.mjs keys …, beside two relays on one PostgreSQL database', () => {
  it('a key made by the command line works on both relays at once; revoked, both refuse it and end its event streams; the password is never printed', async () => {
    const url = await freshDatabase();
    const password = decodeURIComponent(new URL(clusterUrl()).password);
    const sandbox = await startSandbox({ seed: false, random: 5 });
    try {
      const both = await startRelays(2, { ...concurEnv(sandbox, '3.0'), RELAY_API_KEYS: RELAYS_KEY, RELAY_DB: url });
      relays.push(...both);
      const runs: CommandRun[] = [];
      const keysOn = async (...args: string[]) => {
        const run = await keys(url, ...args);
        runs.push(run);
        return run;
      };

      const created = await keysOn('create', '--name', 'Alice', '--role', 'viewer');
      expect(created.status).toBe(0);
      const secret = lines(created.stdout).at(-1)!;
      const prefix = secret.slice(0, 8);
      for (const relay of both) expect(Me.parse(await (await me(relay, secret)).json())).toEqual({ name: 'Alice', role: 'viewer', prefix });
      const listed = await keysOn('list');
      expect(lines(listed.stdout).find((line) => line.includes(prefix))).toMatch(/ Alice +viewer /);

      const streams = await Promise.all(both.map((relay) => connectSse(`${relay.url}/api/v1/events`, { authorization: `Bearer ${secret}` })));
      expect(streams.map((stream) => stream.status)).toEqual([200, 200]);
      const revoked = await keysOn('revoke', prefix);
      expect(revoked.status).toBe(0);
      // Each relay hears it (NOTIFY; run.test.ts shows the notice itself), not only at a next call: the streams end on their own.
      await Promise.all(streams.map((stream) => stream.waitForEnd(10_000)));
      for (const relay of both) {
        expect((await me(relay, secret)).status).toBe(401);
        expect((await fetch(`${relay.url}/api/v1/me`, { headers: { authorization: `Bearer ${RELAYS_KEY}` } })).status).toBe(200);
      }
      for (const run of runs) expect(run.stdout + run.stderr).not.toContain(password);
      // LOG_LEVEL=debug: what it logged names the database without the password.
      expect(created.stderr).toContain(`"Alice" (role viewer, prefix ${prefix}) in postgres://postgres:***@127.0.0.1:`);
    } finally {
      await sandbox.close();
    }
  }, 90_000);
});

describe('node dist/relay.mjs: mistakes and help', () => {
  let db: string;
  beforeAll(async () => {
    db = tempDb();
    expect((await keys(db, 'create', '--name', 'Alice', '--role', 'viewer')).status).toBe(0);
  });

  it('a role outside the four: one line naming them, exit status 2', async () => {
    const line = expectOneLine(await keys(db, 'create', '--name', 'Bob', '--role', 'boss'), 2);
    expect(line).toBe('keys create: --role must be one of viewer, replier, admin, broker (got "boss"); e.g. --role replier');
  });

  it('no --name: one line, exit status 2', async () => {
    const line = expectOneLine(await keys(db, 'create', '--role', 'replier'), 2);
    expect(line).toBe('keys create: --name is required: who or what uses the key, e.g. --name "Alice"');
  });

  it('an unknown option or command: one line, exit status 2', async () => {
    expect(expectOneLine(await keys(db, 'create', '--name', 'Bob', '--role', 'viewer', '--admin'), 2)).toMatch(/^keys create: unknown option --admin;/);
    expect(expectOneLine(await keys(db, 'rotate'), 2)).toMatch(/^keys: unknown command "rotate"; the commands are create, list and revoke/);
    expect(expectOneLine(await runRelayCommand(['kees', 'list'], { RELAY_DB: db }), 2)).toMatch(/^relay: unknown command "kees";/);
  });

  it('an unknown id or prefix: one line, exit status 1, nothing revoked', async () => {
    const line = expectOneLine(await keys(db, 'revoke', 'trl_zzzz'), 1);
    expect(line).toBe('keys revoke: no API key has the id or prefix "trl_zzzz"; keys list shows every key\'s id and prefix');
    const alice = lines((await keys(db, 'list')).stdout).find((row) => / Alice +viewer /.test(row));
    expect(alice).toMatch(/ -$/);
  });

  it('--help and keys --help: the usage on stdout, exit status 0', async () => {
    for (const args of [['--help'], ['keys', '--help']]) {
      const run = await runRelayCommand(args, {});
      expect(run.status).toBe(0);
      expect(run.stderr).toBe('');
      expect(run.stdout).toContain('keys create --name <name> --role <role>');
      expect(run.stdout).toContain('keys revoke <id or prefix>');
      expect(run.stdout).toMatch(/Exit status: 0 done; 1 no such key/);
    }
  });

  it('ends quietly when its reader has gone (--help | head, keys list | head)', async () => {
    for (const args of [['--help'], ['keys', 'list']]) {
      const run = await runRelayCommand(args, { RELAY_DB: db }, { closeStdout: true });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
    }
  });
});
