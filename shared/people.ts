import * as z from 'zod/mini';
import { IsoTime, pageOf, pagingOf } from './paging.js';
import { Role } from './roles.js';

// People and permissions: API keys as records, who the caller is, and the audit trail.

/** An API key as the relay shows it: never the key itself (only its first characters, `prefix`). */
export const ApiKey = z.object({
  id: z.string(),
  name: z.string(),
  role: Role,
  prefix: z.string(),
  createdAt: IsoTime,
  lastUsedAt: z.nullable(IsoTime),
  revokedAt: z.nullable(IsoTime),
});
export type ApiKey = z.infer<typeof ApiKey>;

export const ApiKeyCreate = z.strictObject({
  name: z.string().check(
    z.trim(),
    z.minLength(1, 'must name who or what uses the key, e.g. "Alice" or "back office"'),
    z.maxLength(100, 'must be at most 100 characters'),
  ),
  role: Role,
});
export type ApiKeyCreate = z.infer<typeof ApiKeyCreate>;

/** `POST /api/v1/keys`: the only answer that carries the key itself (`secret`). */
export const ApiKeyCreated = z.object({ key: ApiKey, secret: z.string().check(z.startsWith('trl_')) });
export type ApiKeyCreated = z.infer<typeof ApiKeyCreated>;

export const ApiKeyList = z.object({ items: z.array(ApiKey) });
export type ApiKeyList = z.infer<typeof ApiKeyList>;

/** `GET /api/v1/me`: who the key in use belongs to. */
export const Me = z.object({ name: z.string(), role: Role, prefix: z.string() });
export type Me = z.infer<typeof Me>;

export const AUDIT_ACTIONS = [
  'reply.requested',
  'key.created',
  'key.revoked',
  'webhook.created',
  'webhook.updated',
  'webhook.deleted',
  'webhook.secret_rotated',
  'connection.token_read',
  'connection.revoked',
] as const;
export const AuditAction = z.enum(AUDIT_ACTIONS);
export type AuditAction = z.infer<typeof AuditAction>;

/** One line of the audit trail. `actor.name` is a key's name, `auto` (auto-connect) or `cli` (the command line). */
export const AuditEntry = z.object({
  id: z.string(),
  at: IsoTime,
  actor: z.object({ keyId: z.nullable(z.string()), name: z.string() }),
  action: AuditAction,
  /** What it was done to: a request, key, webhook or connection id. */
  target: z.nullable(z.string()),
  details: z.nullable(z.record(z.string(), z.unknown())),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditPage = pageOf(AuditEntry);
export type AuditPage = z.infer<typeof AuditPage>;

export const AuditQuery = z.object(pagingOf(200, 50));
export type AuditQuery = z.infer<typeof AuditQuery>;
