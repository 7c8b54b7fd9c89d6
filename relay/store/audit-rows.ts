import type { AuditAction, AuditEntry } from '../../shared/people.js';
import { BadCursorError } from './errors.js';

/**
 * The audit table's rows as entries, and its page cursor: what the audit trail reads the same way
 * on either database (audit.ts, postgres/audit.ts).
 */

export interface AuditRow {
  id: number;
  at: string;
  actor_key_id: string | null;
  actor_name: string;
  action: AuditAction;
  target: string | null;
  details: string | null;
}

const CURSOR_PREFIX = 'a.';

export function toEntry(row: AuditRow): AuditEntry {
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
export function decodeCursor(cursor: string): number {
  const id = cursor.startsWith(CURSOR_PREFIX) ? cursor.slice(CURSOR_PREFIX.length) : '';
  if (!/^[1-9]\d{0,15}$/.test(id)) throw new BadCursorError();
  return Number(id);
}

/** How many rows a page asks for: one more than it shows, to know whether another follows. */
export function pageSize(limit: number): number {
  return Math.max(1, Math.trunc(limit));
}

/** A page of `take` entries from `rows` (read with `take + 1`), and the cursor of the next. */
export function toPage(rows: readonly AuditRow[], take: number): { items: AuditEntry[]; nextCursor: string | null } {
  const page = rows.slice(0, take);
  const last = page.at(-1);
  return {
    items: page.map(toEntry),
    nextCursor: rows.length > take && last !== undefined ? `${CURSOR_PREFIX}${last.id}` : null,
  };
}

/** A details object as stored: JSON text, or NULL. */
export function detailsText(details: Record<string, unknown> | null | undefined): string | null {
  return details === undefined || details === null ? null : JSON.stringify(details);
}
