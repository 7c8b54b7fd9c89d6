import { createHash } from 'node:crypto';
import type { ApiKey } from '../../shared/people.js';
import { ROLES } from '../../shared/roles.js';

/**
 * The api_keys table's rows as keys, and what keeping RELAY_API_KEYS in step decides: what both
 * databases' key parts share (keys.ts, postgres/keys.ts).
 */

export const KEY_PREFIX = 'trl_';
/** How many of a key's first characters are kept and shown. */
export const PREFIX_LENGTH = 8;
/** `lastUsedAt` is written at most this often per key, so that reading with a key costs no write. */
export const LAST_USED_EVERY_MS = 60_000;

export interface KeyRow {
  id: string;
  name: string;
  role: string;
  prefix: string;
  source: 'created' | 'env';
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export const KEY_COLUMNS = 'id, name, role, prefix, source, created_at, last_used_at, revoked_at';

export function sha256(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function toKey(row: KeyRow): ApiKey | undefined {
  const role = ROLES.find((r) => r === row.role);
  if (role === undefined) return undefined;
  return {
    id: row.id,
    name: row.name,
    role,
    prefix: row.prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

/** What a key record's audit lines say of it (never the key). */
export function keyDetails(key: { name: string; role: string; prefix: string }): Record<string, unknown> {
  return { name: key.name, role: key.role, prefix: key.prefix };
}

/** Whether a key last used at `lastUsedAt` is to be touched at `now` (epoch ms). */
export function touchDue(lastUsedAt: string | null, now: number): boolean {
  return lastUsedAt === null || Date.parse(lastUsedAt) <= now - LAST_USED_EVERY_MS;
}

/** What syncing RELAY_API_KEYS does, decided from the env keys stored and the ones configured. */
export interface EnvKeysPlan {
  /** Env keys no longer configured and not yet revoked. */
  revoke: KeyRow[];
  /** Names of configured env keys that someone revoked. */
  stillRevoked: string[];
  /** Configured keys with no env record: each to add as `env key <n>` unless a made key has its hash. */
  add: Array<{ secret: string; n: number; hash: string }>;
}

export function planEnvKeys(stored: ReadonlyArray<KeyRow & { key_sha256: string }>, secrets: readonly string[]): EnvKeysPlan {
  const configured = new Map(secrets.map((secret, i) => [sha256(secret), { secret, n: i + 1 }]));
  const plan: EnvKeysPlan = { revoke: [], stillRevoked: [], add: [] };
  const known = new Set<string>();
  for (const row of stored) {
    known.add(row.key_sha256);
    if (!configured.has(row.key_sha256) && row.revoked_at === null) plan.revoke.push(row);
    else if (configured.has(row.key_sha256) && row.revoked_at !== null) plan.stillRevoked.push(row.name);
  }
  for (const [hash, { secret, n }] of configured) if (!known.has(hash)) plan.add.push({ secret, n, hash });
  return plan;
}
