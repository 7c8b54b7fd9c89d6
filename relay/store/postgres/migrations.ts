import type pg from 'pg';
import { SchemaTooNewError } from '../errors.js';
import type { Migration, MigrateResult } from '../migrations.js';
import { ADVISORY_LOCK } from './locks.js';
import { SCHEMA_AT_9 } from './schema.js';

/**
 * The PostgreSQL twin of migrations.ts, versioned the same way: the same numbers, recorded in a
 * schema_migrations table, a database newer than this relay refused with SchemaTooNewError.
 *
 * It starts at 9 in one step, with the schema SQLite has after its migrations 1 to 9: no
 * PostgreSQL database ever held an older schema, so replaying those steps (and their data fixes
 * for rows that cannot exist here) would be code with nothing to migrate. From 10 on, every SQLite
 * migration gets its twin here under the same number (test/relay/store/postgres/migrations.test.ts
 * fails until it does). Never edit one that has shipped.
 */
export const PG_MIGRATIONS: readonly Migration[] = [
  { version: 9, name: 'the schema of SQLite version 9 (migrations 1 to 9), in one step', sql: SCHEMA_AT_9 },
  {
    version: 10,
    name: 'replies: which relay works on a reply, and until when (many relays on one database)',
    // See ../reply-claims.ts: what `due` claims with FOR UPDATE SKIP LOCKED, and the lease that frees it.
    sql: `ALTER TABLE replies ADD COLUMN claimed_by text;
      ALTER TABLE replies ADD COLUMN lease_until timestamptz;`,
  },
  {
    version: 11,
    name: 'connections: until when a relay refreshes a connection (many relays on one database)',
    // See ../connections.ts claimRefresh: the lease a relay holds while it is at Concur with the refresh token.
    sql: `ALTER TABLE connections ADD COLUMN refresh_claimed_until timestamptz;`,
  },
  {
    version: 12,
    name: 'deliveries: which relay sends a webhook delivery, and until when (many relays on one database)',
    // See ./deliveries.ts: what `due` claims with FOR UPDATE SKIP LOCKED, and the lease that frees it.
    sql: `ALTER TABLE deliveries ADD COLUMN claimed_by text;
      ALTER TABLE deliveries ADD COLUMN lease_until timestamptz;`,
  },
];

type Queryable = Pick<pg.ClientBase, 'query'>;

/**
 * Brings the database to the latest schema, in one transaction that holds the migration's advisory
 * lock: relays starting at once wait for each other, and the later ones find nothing to do. An
 * up-to-date database changes nothing; a failed migration leaves it as it was (PostgreSQL's DDL is
 * transactional).
 */
export async function migratePg(pool: pg.Pool, now: () => string, migrations: readonly Migration[] = PG_MIGRATIONS): Promise<MigrateResult> {
  const first = migrations[0]?.version ?? 1;
  migrations.forEach((m, i) => {
    if (m.version !== first + i) throw new Error(`migration ${i} has version ${m.version}; versions must follow each other from ${first}`);
  });
  const known = first + migrations.length - 1;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await migrateLocked(client, now, migrations, known);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (error) {
    await client.query('ROLLBACK').then(
      () => client.release(),
      (rollbackError: Error) => client.release(rollbackError),
    );
    throw error;
  }
}

async function migrateLocked(client: Queryable, now: () => string, migrations: readonly Migration[], known: number): Promise<MigrateResult> {
  // Released by COMMIT or ROLLBACK, or when the connection dies half-way.
  await client.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCK.migrate]);
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL
  )`);
  const { rows } = await client.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations');
  const from = rows[0]?.version ?? 0;
  if (from > known) throw new SchemaTooNewError(from, known);
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= from) continue;
    await client.query(m.sql);
    await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now()]);
    applied.push(m.version);
  }
  return { from, to: Math.max(from, known), applied };
}
