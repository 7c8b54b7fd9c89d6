import type { ApiKey } from '../../../shared/people.js';

/**
 * `keys list` as a plain-text table: one row per key, columns padded to line up. It shows what
 * the store keeps about a key, which never includes the key itself (only its prefix).
 */

const HEADINGS = ['ID', 'PREFIX', 'NAME', 'ROLE', 'LAST USED (UTC)', 'CREATED (UTC)', 'REVOKED (UTC)'] as const;

// Names come from whoever made the key (over the API too): a control character or a bidi override
// in one could rewrite what the terminal shows, e.g. hide a row or fake a role.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A cell's text: one line, nothing the terminal would act on. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, '?');
}

/** `2026-11-29 10:04:05`: a stored time to the second (the heading says UTC); `empty` when there is none. */
export function shortTime(iso: string | null, empty: string): string {
  return iso === null ? empty : iso.slice(0, 19).replace('T', ' ');
}

/** Characters as a terminal counts them, near enough: code points, not UTF-16 units. */
const width = (text: string) => [...text].length;

export function keyRow(key: ApiKey): string[] {
  return [
    key.id,
    key.prefix,
    key.name,
    key.role,
    shortTime(key.lastUsedAt, 'never'),
    shortTime(key.createdAt, '-'),
    shortTime(key.revokedAt, '-'),
  ].map(printable);
}

/** The table's lines: the headings, then one line per key, in the order given. */
export function keysTable(keys: readonly ApiKey[]): string[] {
  const rows: string[][] = [[...HEADINGS], ...keys.map(keyRow)];
  const widths = HEADINGS.map((_, column) => Math.max(...rows.map((row) => width(row[column]!))));
  return rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell + ' '.repeat(widths[column]! - width(cell))))
      .join('  ')
      .trimEnd(),
  );
}
