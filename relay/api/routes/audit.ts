import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Audit } from '../../store/index.js';
import type { AppEnv } from '../context.js';
import { validationHook } from '../errors.js';
import { behindKey, errorResponses } from '../openapi.js';
import { AuditPageDoc, AuditQueryApi } from '../schemas-people.js';

const listAudit = createRoute({
  operationId: 'listAudit',
  method: 'get',
  path: '/audit',
  tags: ['audit'],
  summary: 'The audit trail, newest first',
  ...behindKey(
    'admin',
    'Who did what: reply.requested, key.created, key.revoked, webhook.created, webhook.updated, webhook.deleted, webhook.secret_rotated (and, with connections, connection.token_read, connection.revoked). `actor` is the key (id and name), `auto` for auto-connect or `cli` for the command line. Never a secret.',
  ),
  request: { query: AuditQueryApi },
  responses: {
    200: { description: 'One page; follow nextCursor for older entries.', content: { 'application/json': { schema: AuditPageDoc } } },
    ...errorResponses(400, 401, 500, 503),
  },
});

/** `GET /audit` (mounted under /api/v1; admin). The store writes the trail with each change; this only reads it. */
export function auditRoutes(deps: { store: { audit: Pick<Audit, 'list'> } }): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // Built by the store from its rows through one typed mapping (the shared AuditEntry), sent as it is.
  app.openapi(listAudit, async (c) => c.json(await deps.store.audit.list(c.req.valid('query')), 200));
  return app;
}
