import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand, type CliCommand } from '../../../../relay/boot/cli/run.js';
import { openStore, type Store } from '../../../../relay/store/index.js';
import { record, tempDb } from '../../store/helpers.js';
import { parseVaultKey, Vault } from '../../../../relay/vault/vault.js';
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

function open(path: string, vault: Vault = TEST_VAULT): Store {
  const store = openStore(path, { vault });
  cleanups.push(() => store.close());
  return store;
}

async function run(command: CliCommand, env: Record<string, string | undefined>) {
  const out: string[] = [];
  const err: string[] = [];
  const status = await runCommand(command, { env: { RELAY_VAULT_KEY: TEST_VAULT_KEY, ...env }, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { status, out, err };
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

  it('works beside another open connection: a key made or revoked is seen there at once', async () => {
    const { path } = database();
    const relay = open(path);
    const made = await run(create, { RELAY_DB: path });
    expect(made.status).toBe(0);
    const secret = made.out.at(-1)!;
    expect(relay.keys.find(secret)).toMatchObject({ name: 'Alice', role: 'replier', revokedAt: null });

    const revoked = await run({ kind: 'keys.revoke', idOrPrefix: secret.slice(0, 8) }, { RELAY_DB: path });
    expect(revoked.status).toBe(0);
    expect(relay.keys.find(secret)?.revokedAt).not.toBeNull();
    expect(relay.audit.list({ limit: 5 }).items.map((entry) => [entry.action, entry.actor.name])).toEqual([
      ['key.revoked', 'cli'],
      ['key.created', 'cli'],
    ]);
  });

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

  it('does not list or revoke in a database that is not there (a wrong RELAY_DB), nor make one', async () => {
    const { path } = database();
    for (const command of [{ kind: 'keys.list' }, { kind: 'keys.revoke', idOrPrefix: 'trl_AbCd' }] as const) {
      const { status, out, err } = await run(command, { RELAY_DB: path });
      expect(status).toBe(1);
      expect(out).toEqual([]);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(/^keys (list|revoke): there is no database at .*relay\.sqlite; set RELAY_DB to the relay's own/);
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

  it('a database a newer relay has migrated: one line, exit status 1, nothing written', async () => {
    const { path } = database();
    open(path).close();
    const raw = new Database(path);
    raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, ?)').run('future', new Date().toISOString());
    raw.close();
    const { status, out, err } = await run(create, { RELAY_DB: path });
    expect(status).toBe(1);
    expect(out).toEqual([]);
    expect(err).toEqual([expect.stringMatching(/^keys create: the database has schema version 999, but this relay only knows versions up to \d+; run a newer relay$/)]);
  });
});

describe('runCommand: vault rotate', () => {
  const NEW_KEY = randomBytes(32).toString('base64');
  const newVault = new Vault({ current: parseVaultKey(NEW_KEY)! });

  /** A database under the tests' key with a request token, a webhook secret and a rotated refresh token. */
  function filled(): { path: string; secrets: string[] } {
    const { path } = database();
    const store = openStore(path, { vault: TEST_VAULT });
    store.requests.upsertFromConcur([record('R1'), record('R2')], new Date().toISOString());
    const { secret } = store.webhooks.create({ url: 'https://hooks.example/in', events: ['reply.sent'] }, { keyId: null, name: 'test' });
    store.state.saveRefreshToken('configured', 'rotated-refresh-token');
    store.connections.create({
      requestId: 'R1',
      form: 'legacy',
      tokens: { accessToken: 'user-access-R1', refreshToken: 'user-refresh-R1', instanceUrl: 'https://www.concursolutions.com/', accessTokenExpiresAt: new Date(Date.now() + 3_600_000).toISOString(), refreshTokenExpiresAt: null, geolocation: null },
      connectedBy: 'test',
      nextRefreshAt: Date.now(),
    });
    store.close();
    return { path, secrets: [secret, 'rotated-refresh-token', 'secret-request-token-R1', 'secret-request-token-R2', 'user-access-R1', 'user-refresh-R1'] };
  }

  it('re-seals everything with RELAY_VAULT_KEY while RELAY_VAULT_OLD_KEYS opens the old values; counts per column, never a value', async () => {
    const { path, secrets } = filled();
    const { status, out, err } = await run({ kind: 'vault.rotate' }, { RELAY_DB: path, RELAY_VAULT_KEY: NEW_KEY, RELAY_VAULT_OLD_KEYS: TEST_VAULT_KEY });
    expect({ status, err }).toEqual({ status: 0, err: [] });
    expect(out).toEqual([
      `vault rotate: re-sealing every secret in ${path} with key ${newVault.keyId} (older keys given: ${TEST_VAULT.keyId}); the vault is under key ${TEST_VAULT.keyId}`,
      `requests.request_token: 2 re-sealed with key ${newVault.keyId}, 0 already under it`,
      `webhook_secrets.secret: 1 re-sealed with key ${newVault.keyId}, 0 already under it`,
      `relay_state.value: 1 re-sealed with key ${newVault.keyId}, 0 already under it`,
      `connections.access_token: 1 re-sealed with key ${newVault.keyId}, 0 already under it`,
      `connections.refresh_token: 1 re-sealed with key ${newVault.keyId}, 0 already under it`,
      `vault check value: moved to key ${newVault.keyId}, last, now that every value is under it`,
      `Done: every secret in ${path} is sealed with key ${newVault.keyId} (2 passes). Restart the relay without RELAY_VAULT_OLD_KEYS when convenient; the old keys are no longer needed.`,
    ]);
    for (const secret of secrets) expect(out.join('\n')).not.toContain(secret);
    const rotated = open(path, newVault);
    expect(rotated.requests.getRequestToken('R1')).toBe('secret-request-token-R1');
    expect(rotated.connections.tokens(rotated.connections.byRequest('R1')!.id)).toMatchObject({ accessToken: 'user-access-R1', refreshToken: 'user-refresh-R1' });
  });

  it('a key that does not open the database: one line, exit status 1, for keys and vault commands alike', async () => {
    const { path } = filled();
    const wrong = `RELAY_VAULT_KEY does not open this database's vault (its values are sealed with key ${TEST_VAULT.keyId}); start with the key it was made with, or put that key in RELAY_VAULT_OLD_KEYS and run "vault rotate"`;
    for (const [command, where] of [[{ kind: 'vault.rotate' }, 'vault rotate'], [{ kind: 'keys.list' }, 'keys list']] as const) {
      const { status, out, err } = await run(command, { RELAY_DB: path, RELAY_VAULT_KEY: NEW_KEY });
      expect({ status, out, err }).toEqual({ status: 1, out: [], err: [`${where}: ${wrong}`] });
    }
  });

  it('a value under a key it was not given: one line naming the column and row, exit status 1', async () => {
    const { path } = filled();
    const raw = new Database(path);
    raw.prepare("UPDATE requests SET request_token = ? WHERE id = 'R2'").run(newVault.seal('secret-request-token-R2', 'requests.request_token:R2'));
    raw.close();
    const third = randomBytes(32).toString('base64');
    const { status, err } = await run({ kind: 'vault.rotate' }, { RELAY_DB: path, RELAY_VAULT_KEY: third, RELAY_VAULT_OLD_KEYS: TEST_VAULT_KEY });
    expect(status).toBe(1);
    expect(err).toEqual([expect.stringMatching(/^vault rotate: requests\.request_token of row "R2": the value was sealed with vault key [0-9a-f]{8}, which the relay was not given; put the key/)]);
  });

  it('no database there: one line, exit status 1, nothing made', async () => {
    const { path } = database();
    const { status, err } = await run({ kind: 'vault.rotate' }, { RELAY_DB: path });
    expect(status).toBe(1);
    expect(err).toEqual([expect.stringMatching(/^vault rotate: there is no database at /)]);
    expect(existsSync(path)).toBe(false);
  });
});
