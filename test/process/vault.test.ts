import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { openStore, SEALED_COLUMNS, type StoreParts } from '../../relay/store/index.js';
import { openPgStore } from '../../relay/store/postgres/index.js';
import { startSandbox } from '../../relay/sandbox/server.js';
import { parseVaultKey, Vault } from '../../relay/vault/vault.js';
import {
  buildRelayBundle,
  concurEnv,
  eventually,
  nodeOptions,
  readDb,
  RELAY_BUNDLE,
  runRelay,
  runRelayCommand,
  startRelayProcess,
  tempDb,
  type RelayProcess,
} from '../helpers/relay-process.js';
import { clusterUrl, freshDatabase } from '../helpers/postgres.js';
import { TEST_VAULT, TEST_VAULT_KEY } from '../helpers/vault.js';
import { VERSIONS } from '../relay/helpers.js';
import { Receiver } from '../relay/push/webhooks/helpers.js';
import { record } from '../relay/store/helpers.js';

/**
 * The vault as it ships (`node dist/relay.mjs`): a relay given a key that does not open its
 * database stops with one line and writes nothing; `vault rotate` killed with SIGKILL in the middle
 * of a batch is finished by running it again, beside a relay that keeps reading values under
 * either key; afterwards the new key alone opens everything and the old key alone is refused.
 */

const API_KEY = 'vault-process-key-0123456789';
const OLD = TEST_VAULT;
const NEW_KEY = randomBytes(32).toString('base64');
const NEW = new Vault({ current: parseVaultKey(NEW_KEY)! });
const ROTATING = { RELAY_VAULT_KEY: NEW_KEY, RELAY_VAULT_OLD_KEYS: TEST_VAULT_KEY };

const wrongKeyLine = (keyId: string) =>
  `RELAY_VAULT_KEY does not open this database's vault (its values are sealed with key ${keyId}); start with the key it was made with, or put that key in RELAY_VAULT_OLD_KEYS and run "vault rotate"`;

const relays: RelayProcess[] = [];
let receiver: Receiver | undefined;
beforeAll(() => buildRelayBundle(), 60_000);
afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.stop('SIGKILL')));
  await receiver?.close();
});
afterAll(async () => {
  await receiver?.close();
});

const ids = (count: number) => Array.from({ length: count }, (_, i) => `R${String(i).padStart(4, '0')}`);

/** A database under the old key: `count` request tokens, a webhook (for replies that fail: none will) with two secrets, a rotated refresh token. */
function seed(db: string, count: number, webhookUrl = 'https://hooks.example/in'): Promise<{ webhookId: string; secrets: string[] }> {
  const store = openStore(db, { vault: OLD });
  return fill(store, count, webhookUrl).finally(() => store.close());
}

/** The same on a PostgreSQL database (its URL). */
async function seedPg(url: string, count: number, webhookUrl: string): Promise<{ webhookId: string; secrets: string[] }> {
  const store = await openPgStore(url, { vault: OLD });
  return fill(store, count, webhookUrl).finally(() => store.close());
}

async function fill(store: StoreParts, count: number, webhookUrl: string): Promise<{ webhookId: string; secrets: string[] }> {
  await store.requests.upsertFromConcur(ids(count).map((id) => record(id)), new Date().toISOString());
  const created = await store.webhooks.create({ url: webhookUrl, events: ['reply.failed'] }, { keyId: null, name: 'test' });
  const rotated = await store.webhooks.rotateSecret(created.webhook.id, { keyId: null, name: 'test' });
  await store.state.saveRefreshToken('configured-refresh', 'rotated-refresh');
  return { webhookId: created.webhook.id, secrets: [rotated.secret, created.secret] };
}

type KeyIds = { tokens: Map<string, number>; others: Set<string>; canary: string | undefined };

/** The key id of every value of every sealed column, and the canary's, as the database holds them (`rows` reads it). */
async function keyIdsIn(rows: (sql: string) => Promise<Array<{ value: string }>>): Promise<KeyIds> {
  const tokens = new Map<string, number>();
  const others = new Set<string>();
  for (const column of SEALED_COLUMNS) {
    const where = column.where === undefined ? '' : ` AND ${column.where}`;
    for (const { value } of await rows(`SELECT ${column.column} AS value FROM ${column.table} WHERE ${column.column} IS NOT NULL${where}`)) {
      const keyId = Vault.keyIdOf(value) ?? 'clear';
      if (column.table === 'requests') tokens.set(keyId, (tokens.get(keyId) ?? 0) + 1);
      else others.add(keyId);
    }
  }
  const [canary] = await rows("SELECT value FROM relay_state WHERE key = 'vault.canary'");
  return { tokens, others, canary: canary === undefined ? undefined : Vault.keyIdOf(canary.value) };
}

const keyIds = (db: string) => keyIdsIn(async (sql) => readDb<{ value: string }>(db, sql));

async function keyIdsPg(url: string): Promise<KeyIds> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await keyIdsIn(async (sql) => (await client.query<{ value: string }>(sql)).rows);
  } finally {
    await client.end();
  }
}

async function expectReadable(store: StoreParts, count: number, webhookId: string, secrets: string[]): Promise<void> {
  for (const id of ids(count)) expect(await store.requests.getRequestToken(id)).toBe(`secret-request-token-${id}`);
  expect(await store.webhooks.signingSecrets(webhookId, Date.now())).toEqual(secrets);
  expect(await store.state.currentRefreshToken('configured-refresh')).toBe('rotated-refresh');
}

/** The relay sends a webhook.test to `hooks`, signed with both stored secrets (it could open them). */
async function signedWebhookTest(relay: RelayProcess, hooks: Receiver, webhookId: string, secrets: string[]): Promise<void> {
  const before = hooks.received.length;
  const answer = await fetch(`${relay.url}/api/v1/webhooks/${webhookId}/test`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` } });
  expect(answer.status).toBe(202);
  const message = await eventually(() => hooks.received.slice(before).find((m) => m.body.includes('"webhook.test"')), 15_000);
  for (const secret of secrets) expect(new StandardWebhook(secret).verify(message.body, message.headers)).toMatchObject({ type: 'webhook.test' });
}

const hash = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** `vault rotate` halted inside a batch by RELAY_TEST_ROTATE_HALT_AFTER, then killed there with SIGKILL. */
async function rotateKilledAfter(db: string, values: number): Promise<{ signal: NodeJS.Signals | null; stderr: string }> {
  const proc = spawn(process.execPath, [RELAY_BUNDLE, 'vault', 'rotate'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...nodeOptions(), RELAY_DB: db, ...ROTATING, RELAY_TEST_ROTATE_HALT_AFTER: String(values) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const closed = new Promise<NodeJS.Signals | null>((resolve) => proc.on('close', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.includes('waiting to be killed')) resolve();
    });
    proc.on('close', () => reject(new Error(`vault rotate ended before it halted:\n${stderr}`)));
  });
  proc.kill('SIGKILL');
  return { signal: await closed, stderr };
}

describe('the vault key at start', () => {
  it('a relay given a key that does not open its database exits 1 with one line, and the file is as it was; so does the command line', async () => {
    const db = tempDb();
    await seed(db, 3);
    const before = hash(db);
    const other = randomBytes(32).toString('base64');
    const run = runRelay({ RELAY_DB: db, RELAY_VAULT_KEY: other, RELAY_API_KEYS: API_KEY, SANDBOX_DEMO_EVERY_SECONDS: '0' }, 'bundle');
    expect(await run.exited).toBe(1);
    expect(run.output.filter((line) => line.trim() !== '')).toEqual([`The relay could not start: ${wrongKeyLine(OLD.keyId)}`]);
    expect(hash(db)).toBe(before);

    const keys = await runRelayCommand(['keys', 'list'], { RELAY_DB: db, RELAY_VAULT_KEY: other });
    expect({ status: keys.status, stdout: keys.stdout, stderr: keys.stderr }).toEqual({ status: 1, stdout: '', stderr: `keys list: ${wrongKeyLine(OLD.keyId)}\n` });
    expect(hash(db)).toBe(before);
  });
});

describe('vault rotate', () => {
  it('killed with SIGKILL inside a batch, leaves every value readable; run again it finishes, and the new key alone opens everything', async () => {
    const db = tempDb();
    const count = 1000;
    const { webhookId, secrets } = await seed(db, count);

    // Batches of 100: two committed, the third killed after 50 of its values.
    const killed = await rotateKilledAfter(db, 250);
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.stderr).toContain('halted inside a batch after 250 values');
    const half = await keyIds(db);
    expect(half.tokens).toEqual(new Map([[NEW.keyId, 200], [OLD.keyId, count - 200]]));
    expect(half.canary).toBe(OLD.keyId);
    // Meanwhile a relay needs both keys: the new one alone is refused, with the key it needs.
    const early = runRelay({ RELAY_DB: db, RELAY_VAULT_KEY: NEW_KEY, RELAY_API_KEYS: API_KEY, SANDBOX_DEMO_EVERY_SECONDS: '0' }, 'bundle');
    expect(await early.exited).toBe(1);
    expect(early.output.filter((line) => line.trim() !== '')).toEqual([`The relay could not start: ${wrongKeyLine(OLD.keyId)}`]);
    const both = openStore(db, { vault: new Vault({ current: parseVaultKey(NEW_KEY)!, old: [parseVaultKey(TEST_VAULT_KEY)!] }) });
    await expectReadable(both, count, webhookId, secrets);
    both.close();

    const rerun = await runRelayCommand(['vault', 'rotate'], { RELAY_DB: db, ...ROTATING, RELAY_VAULT_ROTATE_WAIT_SECONDS: '0' });
    expect(rerun.stderr).toBe('');
    expect(rerun.status).toBe(0);
    expect(rerun.stdout).toContain(`requests.request_token: ${count - 200} re-sealed with key ${NEW.keyId}, 200 already under it`);
    expect(rerun.stdout).toContain(`vault check value: moved to key ${NEW.keyId}`);
    for (const secret of [...secrets, 'rotated-refresh', 'secret-request-token']) expect(rerun.stdout).not.toContain(secret);
    expect(await keyIds(db)).toEqual({ tokens: new Map([[NEW.keyId, count]]), others: new Set([NEW.keyId]), canary: NEW.keyId });

    const fresh = openStore(db, { vault: NEW });
    await expectReadable(fresh, count, webhookId, secrets);
    fresh.close();
    const stale = runRelay({ RELAY_DB: db, RELAY_VAULT_KEY: TEST_VAULT_KEY, RELAY_API_KEYS: API_KEY, SANDBOX_DEMO_EVERY_SECONDS: '0' }, 'bundle');
    expect(await stale.exited).toBe(1);
    expect(stale.output.filter((line) => line.trim() !== '')).toEqual([`The relay could not start: ${wrongKeyLine(NEW.keyId)}`]);
  }, 60_000);

  it('beside a relay left out of step 2 (the old key alone): once the check value moves, that relay seals nothing more and says why; restarted as it was, it stops', async () => {
    const db = tempDb();
    const { webhookId } = await seed(db, 50);
    const relay = await startRelayProcess({ RELAY_DB: db, RELAY_VAULT_KEY: TEST_VAULT_KEY, RELAY_API_KEYS: API_KEY, SANDBOX_DEMO_EVERY_SECONDS: '0' }, 15_000, 'bundle');
    relays.push(relay);
    const health = async () => {
      const res = await fetch(`${relay.url}/healthz`);
      return { status: res.status, body: (await res.json()) as unknown };
    };
    expect((await health()).status).toBe(200);

    const rotate = await runRelayCommand(['vault', 'rotate'], { RELAY_DB: db, ...ROTATING, RELAY_VAULT_ROTATE_WAIT_SECONDS: '1' });
    expect({ status: rotate.status, stderr: rotate.stderr }).toEqual({ status: 0, stderr: '' });
    expect(rotate.stdout).toContain('waiting 1 s for every running relay to see the new key');

    // Its next look at the vault (every 5 s): unavailable, with the reason, and one line in its log.
    await eventually(async () => (await health()).status === 503, 15_000);
    const reason = `the vault was rotated to key ${NEW.keyId}, which this relay was not given (its RELAY_VAULT_KEY is key ${OLD.keyId})`;
    expect((await health()).body).toEqual({ status: 'unavailable', poller: true, reason: expect.stringContaining(reason) });
    expect(relay.output.filter((line) => line.includes(reason))).toHaveLength(1);
    // A write that would seal a secret under the old key is refused, and nothing of it is kept.
    const rotated = await fetch(`${relay.url}/api/v1/webhooks/${webhookId}/rotate-secret`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` } });
    expect(rotated.status).toBe(503);
    expect(((await rotated.json()) as { error: { code: string } }).error.code).toBe('storage_unavailable');
    const under = await keyIds(db);
    expect({ tokens: [...under.tokens.keys()], others: [...under.others], canary: under.canary }).toEqual({ tokens: [NEW.keyId], others: [NEW.keyId], canary: NEW.keyId });

    await relays.pop()!.stop();
    const again = runRelay({ RELAY_DB: db, RELAY_VAULT_KEY: TEST_VAULT_KEY, RELAY_API_KEYS: API_KEY, SANDBOX_DEMO_EVERY_SECONDS: '0' }, 'bundle');
    expect(await again.exited).toBe(1);
    expect(again.output.filter((line) => line.trim() !== '')).toEqual([`The relay could not start: ${wrongKeyLine(NEW.keyId)}`]);
  }, 60_000);
});

// The relay beside the rotation polls its sandbox (and seals the request tokens it brings) in either API version.
describe.each(VERSIONS)('vault rotate beside a relay, API $version', ({ version }) => {
  it('runs beside a relay started with both keys, which signs with the stored secret before and after; then the relay runs on the new key alone', async () => {
    const hooks = (receiver = await new Receiver().start());
    const db = tempDb();
    const { webhookId, secrets } = await seed(db, 300, hooks.url);
    const env = { RELAY_DB: db, RELAY_API_KEYS: API_KEY, SANDBOX_DEMO_EVERY_SECONDS: '0', RELAY_WEBHOOK_ALLOW_PRIVATE: 'true', CONCUR_API_VERSION: version };
    const signedTest = (relay: RelayProcess) => signedWebhookTest(relay, hooks, webhookId, secrets);

    const relay = await startRelayProcess({ ...env, ...ROTATING }, 15_000, 'bundle');
    relays.push(relay);
    expect(relay.output.join('\n')).toContain('the vault is not under RELAY_VAULT_KEY yet');
    await signedTest(relay);
    // It has polled its sandbox: the seeded requests' tokens, sealed by the relay, are in the file too.
    await eventually(() => readDb<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM requests')[0]!.n > 300, 15_000);
    const rotate = await runRelayCommand(['vault', 'rotate'], { RELAY_DB: db, ...ROTATING, RELAY_VAULT_ROTATE_WAIT_SECONDS: '1' });
    expect(rotate.status).toBe(0);
    // Nothing the relay sealed meanwhile was under another key: one pass did the work, the second
    // found none, and neither did the last look (the relay has both keys: it went on sealing, under the new one).
    expect(rotate.stdout).toContain('(2 passes)');
    expect(rotate.stdout).toContain('nothing was sealed with another key meanwhile');
    await signedTest(relay);
    await relays.pop()!.stop();

    const after = await startRelayProcess({ ...env, RELAY_VAULT_KEY: NEW_KEY }, 15_000, 'bundle');
    relays.push(after);
    expect(after.output.join('\n')).not.toContain('the vault is not under RELAY_VAULT_KEY yet');
    await signedTest(after);
    const reading = openStore(db, { vault: NEW });
    await expectReadable(reading, 300, webhookId, secrets);
    reading.close();
  }, 60_000);
});

describe('vault rotate on PostgreSQL', () => {
  it('killed with SIGKILL inside a batch beside a running relay: the server rolls the batch back, the relay keeps signing; run again it finishes, the new key alone opens everything, never a password printed', async () => {
    const hooks = (receiver = await new Receiver().start());
    const url = await freshDatabase();
    const password = decodeURIComponent(new URL(clusterUrl()).password);
    const count = 1000;
    const { webhookId, secrets } = await seedPg(url, count, hooks.url);
    const sandbox = await startSandbox({ seed: false, random: 5 });
    try {
      const env = { ...concurEnv(sandbox, '3.0'), RELAY_DB: url, RELAY_API_KEYS: API_KEY, RELAY_WEBHOOK_ALLOW_PRIVATE: 'true' };
      const relay = await startRelayProcess({ ...env, ...ROTATING }, 30_000, 'bundle');
      relays.push(relay);
      await signedWebhookTest(relay, hooks, webhookId, secrets);

      // Batches of 100: two committed, the third killed after 50 of its values, its locks and writes dropped with its connection.
      const killed = await rotateKilledAfter(url, 250);
      expect(killed.signal).toBe('SIGKILL');
      const half = await keyIdsPg(url);
      expect(half.tokens).toEqual(new Map([[NEW.keyId, 200], [OLD.keyId, count - 200]]));
      expect(half.canary).toBe(OLD.keyId);
      await signedWebhookTest(relay, hooks, webhookId, secrets);

      const rerun = await runRelayCommand(['vault', 'rotate'], { RELAY_DB: url, ...ROTATING, RELAY_VAULT_ROTATE_WAIT_SECONDS: '1' });
      expect(rerun.stderr).toBe('');
      expect(rerun.status).toBe(0);
      const shown = Object.assign(new URL(url), { password: '***' }).href;
      expect(rerun.stdout).toContain(`vault rotate: re-sealing every secret in ${shown} with key ${NEW.keyId}`);
      expect(rerun.stdout).toContain(`requests.request_token: ${count - 200} re-sealed with key ${NEW.keyId}, 200 already under it`);
      expect(rerun.stdout).toContain(`vault check value: moved to key ${NEW.keyId}`);
      for (const secret of [...secrets, 'rotated-refresh', 'secret-request-token', password]) expect(rerun.stdout + killed.stderr).not.toContain(secret);
      expect(await keyIdsPg(url)).toEqual({ tokens: new Map([[NEW.keyId, count]]), others: new Set([NEW.keyId]), canary: NEW.keyId });
      // The relay, started with both keys, signs on with the secrets as they are now sealed.
      await signedWebhookTest(relay, hooks, webhookId, secrets);
      await relays.pop()!.stop();

      const fresh = await openPgStore(url, { vault: NEW });
      await expectReadable(fresh, count, webhookId, secrets).finally(() => fresh.close());
      const stale = runRelay({ ...env, RELAY_VAULT_KEY: TEST_VAULT_KEY }, 'bundle');
      expect(await stale.exited).toBe(1);
      expect(stale.output.filter((line) => line.trim() !== '')).toEqual([`The relay could not start: ${wrongKeyLine(NEW.keyId)}`]);
    } finally {
      await sandbox.close();
    }
  }, 120_000);
});
