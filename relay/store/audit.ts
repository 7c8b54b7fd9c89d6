import type { AuditAction, AuditEntry, AuditPage } from '../../shared/people.js';
import type { StoreContext } from './context.js';
import { BadCursorError } from './errors.js';

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

interface AuditRow {
  id: number;
  at: string;
  actor_key_id: string | null;
  actor_name: string;
  action: AuditAction;
  target: string | null;
  details: string | null;
}

const CURSOR_PREFIX = 'a.';

function toEntry(row: AuditRow): AuditEntry {
  return {
    id: String(row.id),
    at: row.at,
    actor: { keyId: row.actor_key_id, name: row.actor_name },
    action: row.action,
    target: row.target,
    details: row.details === null ? null : (JSON.parse(row.details) as Record<string, unknown>),
  };
}

/** The row id the next page starts below: `a.<id>`, digits only. */
function decodeCursor(cursor: string): number {
  const id = cursor.startsWith(CURSOR_PREFIX) ? cursor.slice(CURSOR_PREFIX.length) : '';
  if (!/^[1-9]\d{0,15}$/.test(id)) throw new BadCursorError();
  return Number(id);
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
        details: details === undefined || details === null ? null : JSON.stringify(details),
      };
      const id = Number(insert.run(row).lastInsertRowid);
      return toEntry({ id, at: row.at, actor_key_id: row.key, actor_name: row.name, action, target, details: row.details });
    },

    list({ limit, cursor }) {
      const take = Math.max(1, Math.trunc(limit));
      const rows = cursor === undefined ? newest.all(take + 1) : below.all(decodeCursor(cursor), take + 1);
      const page = rows.slice(0, take);
      const last = page.at(-1);
      return {
        items: page.map(toEntry),
        nextCursor: rows.length > take && last !== undefined ? `${CURSOR_PREFIX}${last.id}` : null,
      };
    },
  };
}
