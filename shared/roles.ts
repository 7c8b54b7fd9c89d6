import * as z from 'zod/mini';

/**
 * Who may do what with an API key: the relay enforces it on every route, the extension uses it to
 * show only what the key may do (a viewer's popup has no reply buttons).
 *
 * - viewer: reads requests, connections and the summary, follows live events;
 * - replier: a viewer who also sends status replies;
 * - admin: a replier who also manages webhooks and keys, reads the audit trail and revokes
 *   connections, but never reads a traveller's tokens;
 * - broker: a back-office system: who it is, the connections and their tokens, nothing else.
 */
export const ROLES = ['viewer', 'replier', 'admin', 'broker'] as const;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

export const PERMISSIONS = ['me', 'read', 'reply', 'admin', 'connections', 'tokens'] as const;
export type Permission = (typeof PERMISSIONS)[number];

const GRANTS: Readonly<Record<Role, readonly Permission[]>> = {
  viewer: ['me', 'read', 'connections'],
  replier: ['me', 'read', 'reply', 'connections'],
  admin: ['me', 'read', 'reply', 'admin', 'connections'],
  broker: ['me', 'connections', 'tokens'],
};

export function can(role: Role, permission: Permission): boolean {
  return GRANTS[role].includes(permission);
}

/** The roles that hold `permission`, for messages and the API document. */
export function rolesWith(permission: Permission): Role[] {
  return ROLES.filter((role) => can(role, permission));
}
