import type { AuditAction, AuditEntry, AuditPage } from '../../shared/people.js';
import { decodeCursor, detailsText, pageSize, toEntry, toPage, type AuditRow } from './audit-rows.js';
import type { StoreContext } from './context.js';

/**
 * The audit trail: who did what, appended in the transaction of the change it records, so that
 * a change and its audit line exist together or not at all. Nothing here updates or deletes.
 */

/** Who acted: an API key (its id and name), or the relay itself on someone's behalf (`auto`, `cli`). */
export interface Actor {
  keyId: string | null;
  name: string;
}

export interface AuditInput {
  actor: Actor;
  action: AuditAction;
  target: string | null;
  details?: Record<string, unknown> | null;
}

export interface Audit {
  append(entry: AuditInput): AuditEntry;
  /** Newest first. Throws BadCursorError for a cursor it did not make. */
  list(query: { limit: number; cursor?: string }): AuditPage;
}

export function createAudit(ctx: StoreContext): Audit {
  const { db } = ctx;
  const insert = db.prepare<[{ at: string; key: string | null; name: string; action: string; target: string | null; details: string | null }]>(
    'INSERT INTO audit (at, actor_key_id, actor_name, action, target, details) VALUES (@at, @key, @name, @action, @target, @details)',
  );
  const newest = db.prepare<[number], AuditRow>('SELECT * FROM audit ORDER BY id DESC LIMIT ?');
  const below = db.prepare<[number, number], AuditRow>('SELECT * FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?');

  return {
    append({ actor, action, target, details }) {
      const row = {
        at: ctx.now(),
        key: actor.keyId,
        name: actor.name,
        action,
        target,
        details: detailsText(details),
      };
      const id = Number(insert.run(row).lastInsertRowid);
      return toEntry({ id, at: row.at, actor_key_id: row.key, actor_name: row.name, action, target, details: row.details });
    },

    list({ limit, cursor }) {
      const take = pageSize(limit);
      const rows = cursor === undefined ? newest.all(take + 1) : below.all(decodeCursor(cursor), take + 1);
      return toPage(rows, take);
    },
  };
}
