import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { SEALED_COLUMNS } from '../../../relay/store/index.js';
import { Vault, VaultError } from '../../../relay/vault/vault.js';
import type { DatabaseHarness, TestStore } from './databases.js';
import { record, TESTER } from './helpers.js';

/** What the tests of secrets at rest share (sealing.test.ts, sealing-older-files.test.ts). */

const KEY_A = randomBytes(32);
const KEY_B = randomBytes(32);
export const A = new Vault({ current: KEY_A });
export const B = new Vault({ current: KEY_B });
export const B_OVER_A = new Vault({ current: KEY_B, old: [KEY_A] });

export const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
export const wrongKeyLine = (keyId: string) =>
  `RELAY_VAULT_KEY does not open this database's vault (its values are sealed with key ${keyId}); start with the key it was made with, or put that key in RELAY_VAULT_OLD_KEYS and run "vault rotate"`;

export const IDS = Array.from({ length: 250 }, (_, i) => `R${String(i).padStart(4, '0')}`);

/** A connection's tokens, as the exchange brought them. */
export const CONNECTION_TOKENS = { accessToken: 'traveller-access-token', refreshToken: 'traveller-refresh-token', instanceUrl: 'https://us.api.concursolutions.com' };

export interface RawValue {
  column: string;
  row: string;
  value: string;
}

/** Every value of every sealed column, and the canary, as the database holds them (read from outside the store). */
export async function rawValues(harness: DatabaseHarness): Promise<RawValue[]> {
  const columns = [...SEALED_COLUMNS, { table: 'relay_state', column: 'value', row: 'key', where: "key = 'vault.canary'" }];
  // A file an older relay wrote may not have every table yet.
  const tables = new Set(
    (
      await harness.rows<{ name: string }>(
        harness.kind === 'sqlite'
          ? "SELECT name FROM sqlite_master WHERE type = 'table'"
          : "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()",
      )
    ).map((t) => t.name),
  );
  const values: RawValue[] = [];
  for (const c of columns.filter((column) => tables.has(column.table))) {
    const rows = await harness.rows<{ row: string | number; value: string }>(
      `SELECT ${c.row} AS row, ${c.column} AS value FROM ${c.table} WHERE ${c.column} IS NOT NULL${c.where ? ` AND ${c.where}` : ''} ORDER BY ${c.row}`,
    );
    const column = `${c.table}.${c.column}${c.where?.includes('canary') ? ' (canary)' : ''}`;
    values.push(...rows.map(({ row, value }) => ({ column, row: String(row), value })));
  }
  return values;
}

export const keyIdsIn = async (harness: DatabaseHarness) => new Set((await rawValues(harness)).map(({ value }) => Vault.keyIdOf(value) ?? 'clear'));

/** A store under its vault holding every kind of secret: 250 request tokens, two webhook secrets, a rotated refresh token, a connection's tokens. */
export async function fill(store: TestStore, harness: DatabaseHarness): Promise<{ secrets: string[] }> {
  await store.requests.upsertFromConcur(IDS.map((id) => record(id)), harness.clock.iso());
  const { webhook, secret } = await store.webhooks.create({ url: 'https://hooks.example/in', events: ['reply.sent'] }, TESTER);
  const rotated = (await store.webhooks.rotateSecret(webhook.id, TESTER)).secret;
  await store.state.saveRefreshToken('configured-refresh', 'rotated-refresh');
  await store.connections.create({
    requestId: IDS[0]!,
    form: 'password',
    tokens: { ...CONNECTION_TOKENS, accessTokenExpiresAt: harness.clock.iso(), refreshTokenExpiresAt: null, geolocation: 'https://us.api.concursolutions.com' },
    connectedBy: 'tester',
    nextRefreshAt: harness.clock.ms,
  });
  return { secrets: [rotated, secret] };
}

/** `connection`: whether fill() made one (an older relay's file has none). */
export async function expectReadable(store: TestStore, harness: DatabaseHarness, secrets: string[], connection = true): Promise<void> {
  for (const id of IDS) expect(await store.requests.getRequestToken(id)).toBe(`secret-request-token-${id}`);
  const [webhook] = await store.webhooks.list();
  expect(await store.webhooks.signingSecrets(webhook!.id, harness.clock.ms)).toEqual(secrets);
  expect(await store.state.currentRefreshToken('configured-refresh')).toBe('rotated-refresh');
  if (!connection) return;
  const made = (await store.connections.byRequest(IDS[0]!))!;
  expect(await store.connections.tokens(made.id)).toMatchObject({ accessToken: CONNECTION_TOKENS.accessToken, refreshToken: CONNECTION_TOKENS.refreshToken });
}

/** What the database holds, to compare before and after: the SQLite file and its WAL byte for byte, or every row of every PostgreSQL table. */
export async function fingerprint(harness: DatabaseHarness): Promise<unknown> {
  if (harness.kind === 'sqlite') {
    // Hashes: comparing the bytes themselves, element by element, is slow in expect.
    const hash = (file: string) => (existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : null);
    return { main: hash(harness.sqlitePath()), wal: hash(`${harness.sqlitePath()}-wal`) };
  }
  const tables = await harness.rows<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1");
  const rows: Record<string, string | null> = {};
  for (const { name } of tables) {
    const [all] = await harness.rows<{ text: string | null }>(`SELECT string_agg(t::text, '|' ORDER BY t::text) AS text FROM ${name} t`);
    rows[name] = all?.text ?? null;
  }
  return rows;
}

/** Opening with `vault` fails with a VaultError and changes nothing in the database: the error. */
export async function refusedWith(harness: DatabaseHarness, vault: Vault): Promise<VaultError> {
  const before = await fingerprint(harness);
  let error: unknown;
  try {
    await harness.store({ vault });
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(VaultError);
  expect(await fingerprint(harness)).toEqual(before);
  return error as VaultError;
}
