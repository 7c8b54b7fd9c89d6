import { z } from 'zod';
import { Connection, ConnectionsPage, ConnectionsQuery, ConnectionState, ConnectionToken } from '../../shared/connections.js';
import { CONCUR_REVOCATIONS } from '../connections/broker.js';
import { EventIdHeaders, ID_PATTERN, pagingOf, withOpenApi } from './schemas.js';
import { classicObject } from './zod-classic.js';

/**
 * The shared models of connections (a traveller's stored tokens and what the API shows of them),
 * named for the OpenAPI document; see ./schemas.ts for how and why.
 */

export const ConnectionDoc = withOpenApi(classicObject(Connection), 'Connection', {
  description:
    "A traveller's Concur account linked for the partner: the tokens got by exchanging the request token, kept sealed by the relay. Never a token: only a broker key reads the access token (POST /api/v1/connections/{id}/token).",
});
export const ConnectionsPageDoc = withOpenApi(classicObject(ConnectionsPage).extend({ items: z.array(ConnectionDoc) }), 'ConnectionsPage');
export const ConnectionTokenDoc = withOpenApi(classicObject(ConnectionToken), 'ConnectionToken', {
  description:
    "The traveller's access token, for calls to Concur on the traveller's behalf (`Authorization: Bearer <accessToken>` at `instanceUrl`), valid for at least 5 minutes when it is handed out.",
});

const stateMessage = `must be one of ${ConnectionState.options.join(', ')} (leave it out for all)`;

export const ConnectionsQueryApi = classicObject(ConnectionsQuery).extend({
  state: z
    .enum(ConnectionState.options, { error: stateMessage })
    .optional()
    .openapi({ description: 'Only connections in this state; all when left out.' }),
  ...pagingOf(ConnectionsQuery.shape.limit, { min: 1, max: 200 }),
});

export const ConnectionIdParams = z.object({
  id: z
    .string()
    .regex(ID_PATTERN, { error: 'must be a connection id, e.g. con_3q2V0aW5nX2lk' })
    .openapi({ param: { name: 'id', in: 'path' }, description: 'The connection id (con_…).' }),
});

/** Response headers of a page of connections: its event id, and the next page's address when there is one. */
export const ConnectionsPageHeaders = EventIdHeaders.extend({
  Link: z.string().optional().openapi({
    description: 'The next page (RFC 8288), as a query-only reference to this path: `<?…&cursor=…>; rel="next"`; absent on the last page.',
  }),
});

/** The header that says what Concur made of a revocation. */
export const CONCUR_REVOCATION_HEADER = 'Relay-Concur-Revocation';

export const RevocationHeaders = z.object({
  [CONCUR_REVOCATION_HEADER]: z.enum(CONCUR_REVOCATIONS).openapi({
    description:
      'What Concur made of it: `revoked` (Concur revoked the grant, or had nothing left to revoke), `failed` (Concur could not be reached or refused; the audit line says why), `not_attempted` (no partner credentials, or already revoked). The tokens are erased from the relay in every case.',
  }),
});
