import type { Vault } from '../../vault/vault.js';
import type { Sealing } from '../index.js';
import { batchSizeOf, resealOne, walkSql, type ColumnCount, type Row, type WalkOptions } from '../seal-walk.js';
import { nameOf, placeOf, SEALED_COLUMNS, type SealedColumn } from '../sealed-columns.js';
import { CANARY_KEY, canaryMove, checkCanary, firstSealedSql, mustOpen, RotationPasses, sealedCanary, vaultKeys, type SealedAtOpen } from '../vault-rules.js';
import type { PgContext } from './context.js';
import { named } from './named.js';

/**
 * The vault's upkeep on PostgreSQL (the twin of ../sealing.ts and ../seal-walk.ts): the canary
 * written at the first open and checked at every open, and `vault rotate`, walking every column
 * of sealed-columns.ts in short transactions by the same rules.
 *
 * Sealing clear values at open is not done here: no relay ever kept a secret in clear on
 * PostgreSQL (its schema starts where SQLite's sealing migration ended), so the walk would only
 * read every secret at every start to find nothing.
 */

const selectCanary = async (ctx: PgContext, lock = false): Promise<string | null> =>
  (await ctx.query<{ value: string | null }>(`SELECT value FROM relay_state WHERE key = $1${lock ? ' FOR UPDATE' : ''}`, [CANARY_KEY])).rows[0]?.value ??
  null;

async function writeCanary(ctx: PgContext): Promise<void> {
  await ctx.query(
    `INSERT INTO relay_state (key, value, updated_at) VALUES ($1, $2, $3)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    [CANARY_KEY, sealedCanary(ctx.vault), ctx.now()],
  );
}

/** Before anything is migrated: the canary, if the database has one, must open with the vault. */
export async function checkPgVaultKey(ctx: PgContext): Promise<void> {
  const { rows } = await ctx.query<{ present: boolean }>("SELECT to_regclass('relay_state') IS NOT NULL AS present");
  if (rows[0]?.present !== true) return;
  checkCanary(ctx.vault, await selectCanary(ctx));
}

/**
 * After migrating: the canary is written if there is none (a first start), so that a relay given
 * another key later stops at open. Without one, yet with sealed values (the canary row lost),
 * those must open first, or a wrong key would become the vault's key beside them.
 */
export async function pgSealAtOpen(ctx: PgContext): Promise<SealedAtOpen> {
  if ((await selectCanary(ctx)) === null) {
    for (const column of SEALED_COLUMNS) {
      const found = (await ctx.query<Row>(firstSealedSql(column))).rows[0];
      if (found !== undefined) mustOpen(ctx.vault, found.value, placeOf(column, found.row), `sealed ${nameOf(column)}`);
    }
  }
  // Relays opening a new database at once: the first canary stays (DO NOTHING), and must open.
  const inserted = await ctx.query(
    'INSERT INTO relay_state (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING',
    [CANARY_KEY, sealedCanary(ctx.vault), ctx.now()],
  );
  if (inserted.rowCount === 1) return { sealed: [], canaryWritten: true };
  checkCanary(ctx.vault, await selectCanary(ctx));
  return { sealed: [], canaryWritten: false };
}

/**
 * How long a batch waits for a row a relay has locked before it yields (rolls back, pauses, tries
 * again), and how often it tries. A relay may lock request rows in another order than the walk's
 * (a poll's page updates them in Concur's order): a wait both ways is a deadlock, which PostgreSQL
 * breaks after deadlock_timeout (1 s) by failing whichever transaction checks first. Giving up far
 * sooner makes the rotation the one that yields, never the relay's write.
 */
const YIELD_AFTER_MS = 200;
const YIELD_PAUSE_MS = 50;
const YIELD_TRIES = 100;

/** A batch that waited too long for a lock (lock_timeout) or was picked to break a deadlock. */
const mustYield = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '55P03' || code === '40P01';
};

/**
 * One walk over one column in batches, each a transaction that reads its rows `FOR UPDATE`: a
 * relay writing one of them meanwhile waits for the batch (never for the whole walk), and the
 * batch writes each row as it is now. The update's guard on the value read is kept as SQLite's is.
 * A batch that has to wait long for a relay's lock yields to it (YIELD_AFTER_MS) and is read again;
 * what it counted is kept only once it commits.
 */
export async function walkPgColumn(ctx: PgContext, vault: Vault, column: SealedColumn, options: WalkOptions): Promise<ColumnCount> {
  const sql = walkSql(column, options.reseal);
  const first = named<{ limit: number }>(`${sql.first} FOR UPDATE`);
  const after = named<{ last: string | number; limit: number }>(`${sql.after} FOR UPDATE`);
  const update = named<{ row: string | number; before: string; value: string; sha: string }>(sql.update);
  const size = batchSizeOf(options);
  const count: ColumnCount = { column: nameOf(column), sealed: 0, resealed: 0, current: 0, older: 0 };
  const batch = (last: string | number | undefined, counted: ColumnCount) =>
    ctx.tx(async () => {
      await ctx.query(`SET LOCAL lock_timeout = '${YIELD_AFTER_MS}ms'`);
      const read =
        last === undefined
          ? await ctx.query<Row>(first.text, first.bind({ limit: size }))
          : await ctx.query<Row>(after.text, after.bind({ last, limit: size }));
      for (const row of read.rows) {
        const write = resealOne(vault, column, options.reseal, row, counted);
        if (write === undefined) continue;
        await ctx.query(update.text, update.bind(write));
        options.onWritten?.();
      }
      return read.rows;
    });
  let last: string | number | undefined;
  for (;;) {
    let rows: Row[] | undefined;
    for (let tries = 1; rows === undefined; tries++) {
      const counted: ColumnCount = { ...count, sealed: 0, resealed: 0, current: 0, older: 0 };
      try {
        rows = await batch(last, counted);
      } catch (error) {
        if (!mustYield(error) || tries === YIELD_TRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, YIELD_PAUSE_MS));
        continue;
      }
      for (const key of ['sealed', 'resealed', 'current', 'older'] as const) count[key] += counted[key];
    }
    // Awaited when it answers a promise (work of its own on the database, a test's write beside the walk).
    if (rows.length > 0) await options.onBatch?.({ ...count });
    if (rows.length < size) return count;
    last = rows[rows.length - 1]!.row;
  }
}

export function createPgSealing(ctx: PgContext): Sealing {
  const { vault } = ctx;
  return {
    async rotate(options = {}) {
      const passes = new RotationPasses(vault);
      while (passes.next()) {
        for (const column of SEALED_COLUMNS) passes.add(await walkPgColumn(ctx, vault, column, { ...options, reseal: 'all' }));
      }
      const canary = await ctx.tx(async () => {
        // Locked: a relay opening meanwhile checks the canary as it is after this.
        const move = canaryMove(vault, await selectCanary(ctx, true));
        if (move === 'moved') await writeCanary(ctx);
        return move;
      });
      return passes.report(canary);
    },

    async keys() {
      return vaultKeys(vault, await selectCanary(ctx));
    },
  };
}
