import { describe, expect, it } from 'vitest';
import { parseCliConfig } from '../../../relay/base/cli-config.js';
import { parseConfig } from '../../../relay/base/config.js';
import type { RelayConfig } from '../../../relay/base/config-shape.js';
import { CONCUR_MODE_ENV, VAULT } from './env.js';

/** RELAY_DB as a user writes it: a file path means SQLite, a postgres:// URL PostgreSQL; the password is never shown. */

const PASSWORD = 'pw-hush-4711';
const real = CONCUR_MODE_ENV;

function database(value: string | undefined): RelayConfig['database'] {
  const result = parseConfig({ ...real, RELAY_DB: value });
  if (!result.ok) throw new Error(`expected RELAY_DB=${value} to be accepted, got ${result.problems.join('; ')}`);
  return result.config.database;
}

function problems(env: Record<string, string | undefined>): string[] {
  const result = parseConfig(env);
  if (result.ok) throw new Error('expected problems, the configuration was accepted');
  return result.problems;
}

describe('RELAY_DB', () => {
  it.each([
    [undefined, './data/relay.sqlite'],
    ['  ', './data/relay.sqlite'],
    ['/var/lib/relay/relay.sqlite', '/var/lib/relay/relay.sqlite'],
    ['relay.db', 'relay.db'],
  ])('%j is an SQLite file', (value, path) => {
    expect(database(value)).toEqual({ kind: 'sqlite', path });
  });

  it.each([
    `postgres://relay:${PASSWORD}@db.example.com:5432/triplink`,
    `postgresql://relay:${PASSWORD}@db.example.com/triplink?sslmode=require`,
    `POSTGRES://relay:${PASSWORD}@10.0.0.5/triplink`,
  ])('%s is a PostgreSQL database, shown without its password', (url) => {
    const found = database(url);
    expect(found).toMatchObject({ kind: 'postgres', url });
    expect(found.kind === 'postgres' && found.shown).toContain('relay:***@');
    expect(JSON.stringify(found.kind === 'postgres' && found.shown)).not.toContain(PASSWORD);
  });

  it('a URL without a password is shown as it is', () => {
    expect(database('postgres://relay@db.example.com/triplink')).toMatchObject({ shown: 'postgres://relay@db.example.com/triplink' });
  });

  it.each([
    [`postgres://relay:${PASSWORD}@db.example.com:5432`, 'RELAY_DB: must name one database after the host (got "postgres://relay:***@db.example.com:5432")'],
    [`postgres://relay:${PASSWORD}@db.example.com/a/b`, 'RELAY_DB: must name one database after the host'],
    [`postgres://relay:${PASSWORD}@db.example.com:99999/triplink`, 'RELAY_DB: is not a valid PostgreSQL URL (got "postgres://***@db.example.com:99999/triplink")'],
    [`mysql://relay:${PASSWORD}@db.example.com/triplink`, 'RELAY_DB: must be a file path or a postgres:// (postgresql://) URL, not a mysql:// URL (value not shown)'],
    [`https://db.example.com/triplink`, 'RELAY_DB: must be a file path or a postgres:// (postgresql://) URL, not a https:// URL'],
  ])('%s is refused in one line that says what would be right, without the password', (value, start) => {
    const [line, ...more] = problems({ ...real, RELAY_DB: value });
    expect(more).toEqual([]);
    expect(line!.startsWith(start)).toBe(true);
    expect(line).toContain('e.g. RELAY_DB=postgres://relay:<password>@db.example.com:5432/triplink');
    expect(line).not.toContain(PASSWORD);
  });

  it('a folder is still refused as before', () => {
    expect(problems({ RELAY_DB: './data/' })).toEqual(['RELAY_DB: must be a file, not a folder (got "./data/"); e.g. RELAY_DB=./data/relay.sqlite']);
  });

  it('sandbox mode on PostgreSQL needs RELAY_VAULT_KEY: every relay on the database seals with the same key', () => {
    const [line, ...more] = problems({ RELAY_DB: `postgres://relay:${PASSWORD}@db/triplink` });
    expect(more).toEqual([]);
    expect(line).toMatch(/^RELAY_VAULT_KEY: not set; it is required when RELAY_DB is a PostgreSQL URL/);
    expect(parseConfig({ RELAY_DB: `postgres://relay:${PASSWORD}@db/triplink`, RELAY_VAULT_KEY: VAULT }).ok).toBe(true);
  });

  it('the keys command line reads a PostgreSQL URL as the service does: a database, never a file of that name, its password kept out of `shown`', () => {
    const url = `postgres://relay:${PASSWORD}@db/triplink`;
    const result = parseCliConfig({ RELAY_DB: url });
    expect(result).toEqual({ ok: true, config: expect.objectContaining({ database: { kind: 'postgres', url, shown: 'postgres://relay:***@db/triplink' } }) });
    const service = parseConfig({ RELAY_DB: url, RELAY_VAULT_KEY: VAULT });
    expect(service.ok && service.config.database).toEqual(result.ok && result.config.database);
  });
});
