import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatProblems, parseConfig } from '../../../relay/base/config.js';

/**
 * compose.yaml (README: "Many relays on PostgreSQL") is not run by the tests (no network, no
 * Docker), so this reads it as Compose would: each relay's environment, with the variables the
 * README asks for filled in, must be a configuration the relay accepts, on the same PostgreSQL
 * database, against the compose file's own Concur.
 */

interface Service {
  image?: string;
  build?: string | { context: string; target?: string };
  command?: string[];
  environment?: Record<string, string>;
}

/** What the README tells the user to export before `docker compose up`. */
const EXPORTED: Record<string, string> = {
  POSTGRES_PASSWORD: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
  RELAY_VAULT_KEY: Buffer.alloc(32, 7).toString('base64'),
  RELAY_API_KEYS: 'f'.repeat(48),
  SANDBOX_ACCESS_TOKEN: 'e'.repeat(48),
};

/** Compose's interpolation: `${NAME}`, `${NAME:?message}` (required) and `${NAME:-default}`. */
function interpolate(value: string, exported: Record<string, string | undefined>): string {
  return value.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_, name: string, kind?: string, rest?: string) => {
    const set = exported[name];
    if (set !== undefined && set !== '') return set;
    if (kind === '-') return rest ?? '';
    throw new Error(`compose.yaml needs ${name}${kind === '?' ? `: ${rest}` : ''}`);
  });
}

const services = (parse(readFileSync('compose.yaml', 'utf8'), { merge: true }) as { services: Record<string, Service & { ports?: string[] }> }).services;
const envOf = (service: Service, exported = EXPORTED) =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([name, value]) => [name, interpolate(String(value), exported)]));
const relays = Object.entries(services).filter(([, service]) => service.build === '.');

describe('compose.yaml', () => {
  it('runs PostgreSQL from the official image and two relays from the Dockerfile', () => {
    expect(services.db?.image).toMatch(/^postgres:\d+$/);
    expect(relays.map(([name]) => name)).toEqual(['relay-a', 'relay-b']);
  });

  it.each(relays.map(([name]) => name))("%s's environment is a configuration the relay accepts, on the compose file's database and Concur", (name) => {
    const result = parseConfig(envOf(services[name]!));
    if (!result.ok) throw new Error(formatProblems(result.problems));
    const { config } = result;
    expect(config.mode).toBe('concur');
    expect(config.host).toBe('0.0.0.0');
    if (config.database.kind !== 'postgres') throw new Error(`${name} is not on PostgreSQL`);
    const db = new URL(config.database.url);
    const postgres = envOf(services.db!);
    expect({ host: db.hostname, user: db.username, password: db.password, database: db.pathname.slice(1) }).toEqual({
      host: 'db',
      user: postgres.POSTGRES_USER,
      password: postgres.POSTGRES_PASSWORD,
      database: postgres.POSTGRES_DB,
    });
    // The relays' Concur is the compose file's sandbox, with its token.
    const concur = envOf(services.concur!);
    expect(config.concur.baseUrl).toBe(`http://concur:${concur.SANDBOX_PORT}`);
    expect(config.concur.credential).toEqual({ kind: 'accessToken', accessToken: concur.SANDBOX_ACCESS_TOKEN });
  });

  it('gives both relays the same database and vault key, and each its own port on the host', () => {
    const [a, b] = relays.map(([, service]) => envOf(service));
    expect(a!.RELAY_DB).toBe(b!.RELAY_DB);
    expect(a!.RELAY_VAULT_KEY).toBe(b!.RELAY_VAULT_KEY);
    const ports = relays.map(([, service]) => service.ports ?? []);
    expect(ports.map((list) => list.length)).toEqual([1, 1]);
    expect(new Set(ports.flat()).size).toBe(2);
  });

  it('refuses to start without the secrets the README asks for, naming them', () => {
    expect(() => envOf(services['relay-a']!, {})).toThrow(/POSTGRES_PASSWORD/);
  });
});
