import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from '../context.js';
import { validationHook } from '../errors.js';
import { errorResponses, NO_SECURITY, type OpenApiDocument } from '../openapi.js';

const getOpenApiDocument = createRoute({
  operationId: 'getOpenApiDocument',
  method: 'get',
  path: '/openapi.json',
  tags: ['operations'],
  summary: 'This OpenAPI 3.1 document (no API key)',
  description:
    'The relay describes itself, its own document included, so that a client generated from it can fetch it like any other operation. It passes `redocly lint` (recommended rules).',
  security: NO_SECURITY,
  responses: {
    200: {
      description: 'The OpenAPI 3.1 document.',
      content: { 'application/json': { schema: z.record(z.string(), z.unknown()).openapi({ description: 'An OpenAPI 3.1 document.' }) } },
    },
    ...errorResponses(),
  },
});

/**
 * `GET /openapi.json`, open like /healthz: the document holds no secret, and a client needs it
 * before it has a key. `document` is the whole app's (../openapi.ts, documentOf), built on first use.
 */
export function documentRoutes(document: () => OpenApiDocument): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // An OpenAPIObject is plain JSON; its interface has no index signature for the route's type to see.
  app.openapi(getOpenApiDocument, (c) => c.json(document() as unknown as Record<string, unknown>, 200));
  return app;
}
