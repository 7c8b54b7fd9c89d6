import type { ApiKey } from '../../shared/people.js';
import { rolesWith, type Permission, type Role } from '../../shared/roles.js';
import { ApiError } from './errors.js';

/**
 * What a route under /api/v1 needs of the caller's role, declared where the route is defined:
 * `...behindKey('reply')` in its OpenAPI route (./openapi.ts: this declaration, the key as its
 * `security` and the roles in its description). The declaration goes into the served document
 * (clients and people read who may call what there) and is what the role guard
 * (./middleware/roles.ts) enforces, so the two cannot disagree. A route without one is refused
 * to every key.
 */

/** The permission a route needs (one of shared/roles.ts's PERMISSIONS). */
export const PERMISSION_EXTENSION = 'x-required-permission';
/** The roles that hold it, for readers of the document. */
export const ROLES_EXTENSION = 'x-roles';

export interface PermissionDeclaration {
  [PERMISSION_EXTENSION]: Permission;
  [ROLES_EXTENSION]: Role[];
}

/** The declaration alone; routes spread `behindKey` (./openapi.ts), which holds it. */
export function requires(permission: Permission): PermissionDeclaration {
  return { [PERMISSION_EXTENSION]: permission, [ROLES_EXTENSION]: rolesWith(permission) };
}

/** What a key without the permission may not do, as a 403 says it. */
const DOING: Readonly<Record<Permission, string>> = {
  me: 'ask who it is',
  read: 'read requests, the summary or live events',
  reply: 'send replies',
  admin: 'administer the relay (webhooks, API keys, the audit trail, revoking connections)',
  connections: 'read connections',
  tokens: "read travellers' tokens",
};

/** "the replier or admin role", "the admin role". */
function roleList(roles: readonly Role[]): string {
  if (roles.length === 0) return 'a role no key has';
  const last = roles[roles.length - 1]!;
  return roles.length === 1 ? `the ${last} role` : `the ${roles.slice(0, -1).join(', ')} or ${last} role`;
}

/**
 * 403 `forbidden`, naming the key (prefix and name, never more of it), what it may not do and
 * which roles may: "the API key trl_Ab12… (Bob, viewer) may not send replies; that needs the
 * replier or admin role".
 */
export function forbidden(key: Pick<ApiKey, 'prefix' | 'name' | 'role'>, permission: Permission): ApiError {
  return new ApiError(
    403,
    'forbidden',
    `the API key ${key.prefix}… (${key.name}, ${key.role}) may not ${DOING[permission]}; that needs ${roleList(rolesWith(permission))}`,
  );
}
