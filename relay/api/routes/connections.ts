import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { Connection, ConnectionToken } from '../../../shared/connections.js';
import type { ConnectionBroker } from '../../connections/broker.js';
import { UnknownConnectionError, type Connections, type EventLog } from '../../store/index.js';
import { actorOf, EVENT_ID_HEADER, type AppEnv } from '../context.js';
import { ApiError, validationHook } from '../errors.js';
import { behindKey, errorResponses } from '../openapi.js';
import {
  CONCUR_REVOCATION_HEADER,
  ConnectionDoc,
  ConnectionIdParams,
  ConnectionsPageDoc,
  ConnectionsPageHeaders,
  ConnectionsQueryApi,
  ConnectionTokenDoc,
  RevocationHeaders,
} from '../schemas-connections.js';

export interface ConnectionsRouteDeps {
  store: { connections: Pick<Connections, 'list' | 'get'>; events: Pick<EventLog, 'latestId'> };
  /** Token reads and revocations (relay/connections/broker.ts). */
  broker: ConnectionBroker;
}

const TAGS = ['connections'];
const json = <T,>(schema: T) => ({ 'application/json': { schema } });

const listConnections = createRoute({
  operationId: 'listConnections',
  method: 'get',
  path: '/connections',
  tags: TAGS,
  summary: 'List connections, newest first',
  ...behindKey('connections'),
  request: { query: ConnectionsQueryApi },
  responses: {
    200: { description: 'One page; follow nextCursor (or the Link header) for older ones. Never a token.', headers: ConnectionsPageHeaders, content: json(ConnectionsPageDoc) },
    ...errorResponses(400, 401, 500, 503),
  },
});

const getConnection = createRoute({
  operationId: 'getConnection',
  method: 'get',
  path: '/connections/{id}',
  tags: TAGS,
  summary: 'One connection',
  ...behindKey('connections'),
  request: { params: ConnectionIdParams },
  responses: {
    200: { description: 'The connection (never a token).', content: json(ConnectionDoc) },
    ...errorResponses(400, 401, 404, 500, 503),
  },
});

const readToken = createRoute({
  operationId: 'readConnectionToken',
  method: 'post',
  path: '/connections/{id}/token',
  tags: TAGS,
  summary: "The traveller's access token, for the partner's back office",
  ...behindKey(
    'tokens',
    "Broker keys only (not admin). The access token is valid for at least 5 more minutes: with less left, the relay refreshes it at Concur first. Every token handed out is audited as connection.token_read (the key as actor, never the token). 409 connection_revoked or connection_broken when the connection has no token to give (the traveller must connect again); 503 refresh_unavailable (with Retry-After) when it needed a refresh Concur could not give just now. Answered with Cache-Control: no-store.",
  ),
  request: { params: ConnectionIdParams },
  responses: {
    200: { description: 'The access token and where to use it.', content: json(ConnectionTokenDoc) },
    ...errorResponses(400, 401, 404, 409, 500, 503),
  },
});

const revokeConnection = createRoute({
  operationId: 'revokeConnection',
  method: 'delete',
  path: '/connections/{id}',
  tags: TAGS,
  summary: 'Revoke a connection',
  ...behindKey(
    'admin',
    "Revokes the traveller's grant at Concur where its API allows (legacy revoketoken.ashx, OAuth 2.0 app-mgmt), then erases the tokens here and marks the connection revoked, whatever Concur said: the Relay-Concur-Revocation header tells. Audited as connection.revoked; the webhook connection.revoked follows. Revoking a revoked connection answers it as it is.",
  ),
  request: { params: ConnectionIdParams },
  responses: {
    200: { description: 'The connection, revoked.', headers: RevocationHeaders, content: json(ConnectionDoc) },
    ...errorResponses(400, 401, 404, 500, 503),
  },
});

/** `Link: <?…>; rel="next"` as the requests list writes it: a query-only reference, in the order the relay reads the query. */
function nextLink(query: { state?: string; limit: number }, next: string): string {
  const params = new URLSearchParams();
  if (query.state !== undefined) params.set('state', query.state);
  params.set('limit', String(query.limit));
  params.set('cursor', next);
  return `<?${params.toString()}>; rel="next"`;
}

/** Why a connection has no token to give, as a 409. */
function noToken(connection: Connection): ApiError {
  if (connection.state === 'revoked') {
    return new ApiError(409, 'connection_revoked', `connection ${connection.id} was revoked and its tokens erased; the traveller must connect again`);
  }
  const why = connection.lastError === null ? '' : ` (${connection.lastError})`;
  return new ApiError(
    409,
    'connection_broken',
    `connection ${connection.id} is broken: Concur refused to refresh its tokens for good${why}; the traveller must connect again`,
  );
}

/** `GET /connections`, `GET /connections/{id}`, `POST /connections/{id}/token`, `DELETE /connections/{id}` (mounted under /api/v1). */
export function connectionsRoutes(deps: ConnectionsRouteDeps): OpenAPIHono<AppEnv> {
  const { store, broker } = deps;
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(listConnections, async (c) => {
    const { state, limit, cursor } = c.req.valid('query');
    // The event id first: an event committed after it is one this page may not show yet.
    const eventId = String(await store.events.latestId());
    const page = await store.connections.list({ state, limit, cursor });
    const headers: Record<string, string> = { [EVENT_ID_HEADER]: eventId };
    if (page.nextCursor !== null) headers.Link = nextLink({ state, limit }, page.nextCursor);
    return c.json(page, 200, headers);
  });

  app.openapi(getConnection, async (c) => {
    const { id } = c.req.valid('param');
    const connection = await store.connections.get(id);
    if (connection === undefined) throw new UnknownConnectionError(id);
    return c.json(connection, 200);
  });

  app.openapi(readToken, async (c) => {
    const read = await broker.readToken(c.req.valid('param').id, actorOf(c));
    if (read.kind === 'refused') throw noToken(read.connection);
    if (read.kind === 'unavailable') {
      throw new ApiError(503, 'refresh_unavailable', read.message, undefined, { 'Retry-After': String(read.retryAfterSeconds) });
    }
    // Said here as well as by the app's middleware: this answer carries a traveller's token.
    return c.json(ConnectionToken.parse(read.token), 200, { 'Cache-Control': 'no-store' });
  });

  app.openapi(revokeConnection, async (c) => {
    const { connection, concur } = await broker.revoke(c.req.valid('param').id, actorOf(c));
    return c.json(Connection.parse(connection), 200, { [CONCUR_REVOCATION_HEADER]: concur });
  });

  return app;
}
