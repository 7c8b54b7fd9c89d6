import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { can, PERMISSIONS, type Permission } from '../../../shared/roles.js';
import { requestLogger, type AppEnv } from '../context.js';
import { ApiError } from '../errors.js';
import { forbidden, PERMISSION_EXTENSION } from '../permissions.js';

/** A route as the app's OpenAPI registry holds it (structurally: what the guard reads of it). */
export interface DeclaredRoute {
  type: string;
  route?: { method: string; path: string; [PERMISSION_EXTENSION]?: unknown };
}

const isPermission = (value: unknown): value is Permission => PERMISSIONS.some((permission) => permission === value);

/** `GET /api/v1/requests/:id` from the document's `get` `/api/v1/requests/{id}`: how the router names the route. */
function routeKey(method: string, path: string): string {
  return `${method.toUpperCase()} ${path.replaceAll(/\{([^}]+)\}/g, ':$1')}`;
}

/**
 * The role check of every route under /api/v1, after the API-key check: the route that will
 * answer is looked up in what the routes declared (`...behindKey(…)`, ../openapi.ts, read from
 * the app's OpenAPI registry once every route is registered), and a caller whose role lacks that
 * permission gets 403 `forbidden` before the route reads anything (its body included).
 *
 * Fails closed: a route that declared nothing — left out of the document, or declared with
 * something that is not a permission — is refused to every key, and the error is logged for the
 * operator. Where no route matches, the not-found handler answers (404, 405) as before.
 */
export function roleGuard(declarations: () => readonly DeclaredRoute[]): MiddlewareHandler<AppEnv> {
  let table: Map<string, Permission> | undefined;
  const build = (): Map<string, Permission> => {
    const built = new Map<string, Permission>();
    for (const { type, route } of declarations()) {
      const permission = route?.[PERMISSION_EXTENSION];
      if (type === 'route' && route !== undefined && isPermission(permission)) built.set(routeKey(route.method, route.path), permission);
    }
    return built;
  };

  return async function roleGuard(c, next) {
    // The first route (not middleware, whose method is ALL) the router matched is the one that answers.
    const route = matchedRoutes(c).find((each) => each.method !== 'ALL');
    if (route === undefined) return next();
    table ??= build();
    // The router's method is upper case and its path has `:id` already: the key as built above.
    const permission = table.get(`${route.method} ${route.path}`);
    if (permission === undefined) {
      requestLogger(c)?.error({ route: `${route.method} ${route.path}` }, 'a route declares no permission; it is refused to every key');
      throw new ApiError(403, 'forbidden', `${route.method} ${route.path} declares no permission, so no API key may call it`);
    }
    const caller = c.get('caller');
    if (!can(caller.role, permission)) throw forbidden(caller, permission);
    await next();
  };
}
