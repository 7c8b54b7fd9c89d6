import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPgContext, type PgContext } from '../../../../relay/store/postgres/context.js';
import { migratePg } from '../../../../relay/store/postgres/migrations.js';
import { openPool } from '../../../../relay/store/postgres/pool.js';
import { freshDatabase } from '../../../helpers/postgres.js';
import { TEST_VAULT } from '../../../helpers/vault.js';

const T0 = Date.parse('2026-12-06T10:00:00.000Z');

describe('the PostgreSQL store context', () => {
  let pool: pg.Pool;
  let ctx: PgContext;
  beforeAll(async () => {
    pool = openPool(await freshDatabase(), { max: 4 });
    await migratePg(pool, () => new Date(T0).toISOString());
    ctx = createPgContext(pool, () => T0, TEST_VAULT);
  });
  afterAll(() => pool.end());
  beforeEach(async () => {
    await pool.query('TRUNCATE relay_state, events RESTART IDENTITY');
  });

  const put = (key: string, value: string): Promise<unknown> =>
    ctx.query('INSERT INTO relay_state (key, value, updated_at) VALUES ($1, $2, $3)', [key, value, ctx.now()]);
  const keys = async (): Promise<string[]> => (await pool.query<{ key: string }>('SELECT key FROM relay_state ORDER BY key')).rows.map((r) => r.key);

  it('commits what a transaction wrote, and runs its after-commit work only then, in order', async () => {
    const ran: string[] = [];
    const result = await ctx.tx(async () => {
      await put('a', '1');
      ctx.afterCommit(() => ran.push('first'));
      // Another connection does not see it yet: it is one transaction on one client.
      expect(await keys()).toEqual([]);
      await put('b', '2');
      ctx.afterCommit(() => ran.push('second'));
      expect(ran).toEqual([]);
      return 'done';
    });
    expect(result).toBe('done');
    expect(ran).toEqual(['first', 'second']);
    expect(await keys()).toEqual(['a', 'b']);
  });

  it('rolls everything back on an error, and drops the after-commit work', async () => {
    const ran: string[] = [];
    const failing = ctx.tx(async () => {
      await put('a', '1');
      ctx.afterCommit(() => ran.push('announced'));
      await put('a', 'again'); // the primary key refuses it
    });
    await expect(failing).rejects.toThrow(/duplicate key/);
    expect(ran).toEqual([]);
    expect(await keys()).toEqual([]);
  });

  it('joins an outer transaction: an inner call commits nothing alone, an error anywhere undoes both', async () => {
    const ran: string[] = [];
    await expect(
      ctx.tx(async () => {
        await ctx.tx(async () => {
          await put('inner', '1');
          ctx.afterCommit(() => ran.push('inner'));
        });
        throw new Error('the outer part failed');
      }),
    ).rejects.toThrow('the outer part failed');
    expect(await keys()).toEqual([]);
    expect(ran).toEqual([]);
  });

  it('keeps concurrent transactions apart, each on its own client', async () => {
    const order: string[] = [];
    await Promise.all(
      ['x', 'y', 'z'].map((key) =>
        ctx.tx(async () => {
          await put(key, key);
          ctx.afterCommit(() => order.push(key));
          if (key === 'y') throw new Error('y fails alone');
        }).catch(() => undefined),
      ),
    );
    expect(await keys()).toEqual(['x', 'z']);
    expect(order.sort()).toEqual(['x', 'z']);
    // Every client went back to the pool (a leaked one would be counted here).
    expect(pool.totalCount - pool.idleCount).toBe(0);
  });

  it('runs after-commit work at once outside a transaction, and queries outside on the pool', async () => {
    const ran: string[] = [];
    ctx.afterCommit(() => ran.push('now'));
    expect(ran).toEqual(['now']);
    await put('outside', '1');
    expect(await keys()).toEqual(['outside']);
  });

  it('outlives its idle connections being ended by the server: the next query takes a new one', async () => {
    const heard: string[] = [];
    const own = openPool(pool.options.connectionString!, { max: 2, onIdleError: (error) => heard.push(error.message) });
    try {
      const { rows } = await own.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await expect.poll(() => heard.length).toBe(1);
      expect(heard[0]).toMatch(/terminating connection/);
      expect((await own.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await own.end();
    }
  });

  it('reads times back as the store writes them, and event ids as numbers', async () => {
    await ctx.tx(async () => {
      await ctx.query(`INSERT INTO events (type, data, created_at) VALUES ('summary', '{}', $1)`, [ctx.now()]);
    });
    const { rows } = await ctx.query('SELECT id, created_at FROM events');
    expect(rows).toEqual([{ id: 1, created_at: '2026-12-06T10:00:00.000Z' }]);
  });
});
