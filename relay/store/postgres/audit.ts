import { decodeCursor, detailsText, pageSize, toEntry, toPage, type AuditRow } from '../audit-rows.js';
import type { Audit } from '../index.js';
import type { PgContext } from './context.js';
import { ADVISORY_LOCK } from './locks.js';

/**
 * The audit trail on PostgreSQL (the twin of ../audit.ts): appended in the transaction of the
 * change it records, never updated or deleted, newest first by id.
 *
 * Ids come from the table's identity, handed out when a row is inserted, not when it commits: two
 * relays' transactions could commit in the other order, and a reader paging below an id could
 * step over the line that committed last. So each append first takes an advisory transaction
 * lock, held until its transaction ends: lines commit in the order of their ids, as with SQLite's
 * single writer. It is the events' lock, not one of its own: a transaction that audits mostly
 * appends an event too, and two locks taken in either order by two relays could deadlock. What
 * it costs is that such transactions commit one at a time from their audit line on.
 */
export function createPgAudit(ctx: PgContext): Audit {
  return {
    async append({ actor, action, target, details }) {
      return ctx.tx(async () => {
        await ctx.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCK.events]);
        const { rows } = await ctx.query<AuditRow>(
          `INSERT INTO audit (at, actor_key_id, actor_name, action, target, details) VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id, at, actor_key_id, actor_name, action, target, details`,
          [ctx.now(), actor.keyId, actor.name, action, target, detailsText(details)],
        );
        return toEntry(rows[0]!);
      });
    },

    async list({ limit, cursor }) {
      const take = pageSize(limit);
      const { rows } =
        cursor === undefined
          ? await ctx.query<AuditRow>('SELECT * FROM audit ORDER BY id DESC LIMIT $1', [take + 1])
          : await ctx.query<AuditRow>('SELECT * FROM audit WHERE id < $1 ORDER BY id DESC LIMIT $2', [decodeCursor(cursor), take + 1]);
      return toPage(rows, take);
    },
  };
}
