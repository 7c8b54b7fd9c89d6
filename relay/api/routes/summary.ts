import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { Summary } from '../../../shared/models.js';
import type { Store } from '../../store/index.js';
import type { AppEnv } from '../context.js';
import { validationHook } from '../errors.js';
import { API_KEY_SECURITY, errorResponses } from '../openapi.js';
import { SummaryDoc } from '../schemas.js';

const getSummary = createRoute({
  method: 'get',
  path: '/summary',
  tags: ['summary'],
  summary: 'Counts by group and the state of the link to Concur',
  security: API_KEY_SECURITY,
  responses: {
    200: { description: 'The summary.', content: { 'application/json': { schema: SummaryDoc } } },
    ...errorResponses(401, 500),
  },
});

/** `GET /summary` (mounted under /api/v1). */
export function summaryRoutes(deps: { store: Pick<Store, 'summary'> }): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // A summary that does not fit the model is a relay bug: it becomes a logged 500, never a bad answer.
  app.openapi(getSummary, (c) => c.json(Summary.parse(deps.store.summary()), 200));
  return app;
}
