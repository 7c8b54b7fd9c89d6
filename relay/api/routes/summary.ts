import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { Summary } from '../../../shared/models.js';
import type { EventLog, RelayState } from '../../store/index.js';
import { EVENT_ID_HEADER, type AppEnv } from '../context.js';
import { validationHook } from '../errors.js';
import { behindKey, errorResponses } from '../openapi.js';
import { EventIdHeaders, SummaryDoc } from '../schemas.js';

const getSummary = createRoute({
  operationId: 'getSummary',
  method: 'get',
  path: '/summary',
  tags: ['summary'],
  summary: 'Counts by group and the state of the link to Concur',
  ...behindKey('read'),
  responses: {
    200: { description: 'The summary.', headers: EventIdHeaders, content: { 'application/json': { schema: SummaryDoc } } },
    ...errorResponses(401, 500, 503),
  },
});

/** `GET /summary` (mounted under /api/v1). */
export function summaryRoutes(deps: { store: { events: Pick<EventLog, 'latestId'>; state: Pick<RelayState, 'summary'> } }): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // A summary that does not fit the model is a relay bug: it becomes a logged 500, never a bad answer.
  // The event id before the summary: an event that commits in between is one the summary may show
  // already, and a client resuming from this id gets it again; none is missed.
  app.openapi(getSummary, async (c) => {
    const eventId = await deps.store.events.latestId();
    return c.json(Summary.parse(await deps.store.state.summary()), 200, { [EVENT_ID_HEADER]: String(eventId) });
  });
  return app;
}
