import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { Me } from '../../../shared/people.js';
import type { AppEnv } from '../context.js';
import { validationHook } from '../errors.js';
import { behindKey, errorResponses } from '../openapi.js';
import { MeDoc } from '../schemas.js';

const getMe = createRoute({
  operationId: 'getMe',
  method: 'get',
  path: '/me',
  tags: ['keys'],
  summary: 'Who the API key in use belongs to, and its role',
  ...behindKey('me'),
  responses: {
    200: { description: "The key's name, role and prefix.", content: { 'application/json': { schema: MeDoc } } },
    ...errorResponses(401, 500),
  },
});

/** `GET /me` (mounted under /api/v1): every role may ask who it is; clients show it and what it may do. */
export function meRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(getMe, (c) => {
    const { name, role, prefix } = c.get('caller');
    return c.json(Me.parse({ name, role, prefix }), 200);
  });
  return app;
}
