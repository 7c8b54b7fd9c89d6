import { z } from 'zod';
import { envWithDefault, got, type Fix } from './env-fields.js';

/**
 * RELAY_DB's kind of variable (beside env-fields.ts, whose rules it follows): where the store
 * lives, an SQLite file or a PostgreSQL database.
 */

/** Where the store lives: an SQLite file, or a PostgreSQL database (`shown`: its URL without the password). */
export type DatabaseLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; shown: string };

const POSTGRES_EXAMPLE = 'postgres://relay:<password>@db.example.com:5432/triplink';

/** The URL with its password (if any) replaced: what logs, errors and the banner may show. */
export function redactPassword(url: URL): string {
  if (url.password === '') return url.href;
  const shown = new URL(url.href);
  shown.password = '***';
  return shown.href;
}

/**
 * A URL's text that is safe to show even when it does not parse: the part between "//" and the
 * last "@" (user and password) is left out.
 */
function withoutCredentials(value: string): string {
  const at = value.lastIndexOf('@');
  const start = value.indexOf('//');
  return at === -1 || start === -1 || at < start ? value : `${value.slice(0, start + 2)}***${value.slice(at)}`;
}

/** One problem with a PostgreSQL URL, or the URL. */
function postgresUrl(value: string): URL | string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `is not a valid PostgreSQL URL (got ${JSON.stringify(withoutCredentials(value))})`;
  }
  if (url.hostname === '') return `names no host (got ${JSON.stringify(redactPassword(url))})`;
  if (url.pathname.length < 2 || url.pathname.slice(1).includes('/')) {
    return `must name one database after the host (got ${JSON.stringify(redactPassword(url))})`;
  }
  return url;
}

/**
 * RELAY_DB: a file path (SQLite, the embedded default) or a `postgres://` / `postgresql://` URL
 * (PostgreSQL, for several relays on one database). Anything else with a scheme is a mistake, not
 * a file name. The password is never part of a message; `shown` leaves it out.
 */
export function envDatabase(fallback: string) {
  return envWithDefault(
    z.string().transform((value, ctx): DatabaseLocation => {
      const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
      const problem = (message: string, fix: Fix = { advice: 'a file path for SQLite, or a PostgreSQL URL', example: POSTGRES_EXAMPLE }) => {
        ctx.addIssue({ code: 'custom', message, params: fix });
        return z.NEVER;
      };
      if (scheme === undefined) {
        if (/[\\/]$/.test(value)) return problem(`must be a file, not a folder ${got(value)}`, { example: fallback });
        return { kind: 'sqlite', path: value };
      }
      if (scheme !== 'postgres' && scheme !== 'postgresql') {
        return problem(`must be a file path or a postgres:// (postgresql://) URL, not a ${scheme}:// URL (value not shown)`);
      }
      const url = postgresUrl(value);
      if (typeof url === 'string') return problem(url);
      return { kind: 'postgres', url: value, shown: redactPassword(url) };
    }),
    { kind: 'sqlite', path: fallback },
  );
}
