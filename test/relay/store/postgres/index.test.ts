import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LATEST_SCHEMA_VERSION } from '../../../../relay/store/index.js';
import { openPgStore, type PgStore } from '../../../../relay/store/postgres/index.js';
import { placeOf } from '../../../../relay/store/sealed-columns.js';
import { CANARY_KEY } from '../../../../relay/store/sealing.js';
import { parseVaultKey, Vault, VaultError } from '../../../../relay/vault/vault.js';
import { freshDatabase } from '../../../helpers/postgres.js';
import { TEST_VAULT } from '../../../helpers/vault.js';

/** Opening the store on PostgreSQL: migrating once for every relay, the vault's key checked first, nothing left open. */
describe('openPgStore', () => {
  const opened: PgStore[] = [];
  const clients: pg.Client[] = [];
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    for (const client of clients.splice(0)) await client.end();
  });

  const open = async (url: string, vault = TEST_VAULT): Promise<PgStore> => {
    const store = await openPgStore(url, { vault });
    opened.push(store);
    return store;
  };
  const admin = async (url: string): Promise<pg.Client> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    clients.push(client);
    return client;
  };
  const connections = async (client: pg.Client): Promise<number> =>
    (await client.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'triplink-relay%'")).rowCount ?? 0;

  it('migrates a new database once: relays opening it together find it migrated', async () => {
    const url = await freshDatabase();
    const [a, b] = await Promise.all([open(url), open(url)]);
    const migrations = [a.migration, b.migration];
    expect(migrations.map((m) => m.to)).toEqual([LATEST_SCHEMA_VERSION, LATEST_SCHEMA_VERSION]);
    expect(migrations.filter((m) => m.applied.length > 0)).toHaveLength(1);
    expect((await open(url)).migration.applied).toEqual([]);
  });

  it('refuses a vault whose keys do not open the database’s canary, and writes nothing', async () => {
    const url = await freshDatabase();
    const client = await admin(url);
    // A database a relay with another key made: its canary, sealed under that key.
    await client.query('CREATE TABLE relay_state (key text PRIMARY KEY, value text, updated_at timestamptz NOT NULL)');
    const other = new Vault({ current: parseVaultKey(Buffer.alloc(32, 7).toString('base64'))! });
    await client.query('INSERT INTO relay_state VALUES ($1, $2, now())', [CANARY_KEY, other.seal('TripLink Relay vault canary', placeOf({ table: 'relay_state', column: 'value', row: 'key' }, CANARY_KEY))]);
    await expect(open(url)).rejects.toThrow(VaultError);
    const tables = await client.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
    expect(tables.rows.map((row: { tablename: string }) => row.tablename)).toEqual(['relay_state']);
    // The server ends a backend just after its client has gone.
    await vi.waitFor(async () => expect(await connections(client)).toBe(0));
  });

  it('leaves no connection open once closed: the pool’s and the one it listens on', async () => {
    const url = await freshDatabase();
    const client = await admin(url);
    const store = await open(url);
    await store.requests.counts();
    expect(await connections(client)).toBeGreaterThanOrEqual(2);
    await store.close();
    opened.splice(opened.indexOf(store), 1);
    await vi.waitFor(async () => expect(await connections(client)).toBe(0));
  });
});
