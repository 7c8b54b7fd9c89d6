import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { ApiKey, ApiKeyCreated, ApiKeyList } from '../../../shared/people.js';
import type { Keys } from '../../store/index.js';
import { actorOf, type AppEnv } from '../context.js';
import { validationHook } from '../errors.js';
import { behindKey, errorResponses } from '../openapi.js';
import { ApiKeyCreateApi, ApiKeyCreatedDoc, ApiKeyDoc, ApiKeyListDoc, KeyIdParams } from '../schemas-people.js';

const TAGS = ['keys'];
const json = <T,>(schema: T) => ({ 'application/json': { schema } });

const createKey = createRoute({
  operationId: 'createKey',
  method: 'post',
  path: '/keys',
  tags: TAGS,
  summary: 'Make an API key for a person or a system',
  ...behindKey(
    'admin',
    'Answers the key record and the key itself (`secret`, `trl_` + 32 random bytes in base64url): shown this once, never stored (the relay keeps its SHA-256). Audited as key.created.',
  ),
  request: { body: { required: true, content: json(ApiKeyCreateApi) } },
  responses: {
    201: { description: 'Made; the only answer that carries the key.', content: json(ApiKeyCreatedDoc) },
    ...errorResponses(400, 401, 413, 415, 500, 503),
  },
});

const listKeys = createRoute({
  operationId: 'listKeys',
  method: 'get',
  path: '/keys',
  tags: TAGS,
  summary: 'Every API key, newest first, revoked ones included',
  ...behindKey('admin'),
  responses: {
    200: { description: 'The keys (never the keys themselves: name, role, prefix, use, revocation).', content: json(ApiKeyListDoc) },
    ...errorResponses(401, 500, 503),
  },
});

const revokeKey = createRoute({
  operationId: 'revokeKey',
  method: 'delete',
  path: '/keys/{id}',
  tags: TAGS,
  summary: 'Revoke an API key',
  ...behindKey(
    'admin',
    'Refused from its next call on (401); its open event streams end at once. Revoking a revoked key answers it as it is. Audited as key.revoked. A key of RELAY_API_KEYS stays revoked until it is taken out of the variable.',
  ),
  request: { params: KeyIdParams },
  responses: {
    200: { description: 'The key, revoked.', content: json(ApiKeyDoc) },
    ...errorResponses(400, 401, 404, 409, 500, 503),
  },
});

/** `POST /keys`, `GET /keys`, `DELETE /keys/{id}` (mounted under /api/v1; admin): the same as the `keys` command line. */
export function keysRoutes(deps: { store: { keys: Pick<Keys, 'create' | 'list' | 'revoke'> } }): OpenAPIHono<AppEnv> {
  const { keys } = deps.store;
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(createKey, async (c) => {
    const { name, role } = c.req.valid('json');
    const created = await keys.create({ name, role }, actorOf(c));
    // Said here as well as by the app's middleware: this answer carries a key.
    return c.json(ApiKeyCreated.parse(created), 201, { 'Cache-Control': 'no-store' });
  });

  app.openapi(listKeys, async (c) => c.json(ApiKeyList.parse({ items: await keys.list() }), 200));

  // The streams of a key revoked here end at once: the store tells the event fan-out after the commit.
  app.openapi(revokeKey, async (c) => c.json(ApiKey.parse(await keys.revoke(c.req.valid('param').id, actorOf(c))), 200));

  return app;
}
