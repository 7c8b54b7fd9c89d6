import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context, TypedResponse } from 'hono';
import { ReplyResponse, type RequestsPage } from '../../../shared/models.js';
import { UnknownRequestError, type EventLog, type Replies, type Requests } from '../../store/index.js';
import { AnswerCache } from '../answer-cache.js';
import { actorOf, EVENT_ID_HEADER, requestLogger, type AppEnv } from '../context.js';
import { validationHook } from '../errors.js';
import { behindKey, errorResponses } from '../openapi.js';
import {
  ConnectionRequestDoc,
  PageHeaders,
  ReplyBodyDoc,
  ReplyHeaders,
  ReplyResponseDoc,
  RequestIdParams,
  RequestsPageDoc,
  RequestsQueryApi,
} from '../schemas.js';
import type { Outbox } from '../../replies/outbox.js';

export interface RequestsRouteDeps {
  store: {
    requests: Pick<Requests, 'list' | 'get'>;
    replies: Pick<Replies, 'enqueue'>;
    events: Pick<EventLog, 'latestId' | 'subscribe' | 'dataVersion'>;
  };
  /** Wakes the outbox worker so a new reply goes out now rather than at its next tick. */
  outbox: Pick<Outbox, 'kick'>;
}

const listRequests = createRoute({
  operationId: 'listRequests',
  method: 'get',
  path: '/requests',
  tags: ['requests'],
  summary: 'List connection requests, newest lastModified first',
  ...behindKey('read'),
  request: { query: RequestsQueryApi },
  responses: {
    200: { description: 'One page.', headers: PageHeaders, content: { 'application/json': { schema: RequestsPageDoc } } },
    ...errorResponses(400, 401, 500, 503),
  },
});

const getRequest = createRoute({
  operationId: 'getRequest',
  method: 'get',
  path: '/requests/{id}',
  tags: ['requests'],
  summary: 'One connection request',
  ...behindKey('read'),
  request: { params: RequestIdParams },
  responses: {
    200: { description: 'The request.', content: { 'application/json': { schema: ConnectionRequestDoc } } },
    ...errorResponses(401, 404, 500, 503),
  },
});

const postReply = createRoute({
  operationId: 'replyToRequest',
  method: 'post',
  path: '/requests/{id}/reply',
  tags: ['requests'],
  summary: 'Queue a status reply to Concur',
  ...behindKey(
    'reply',
    'The reply is stored before the 202 goes out and is retried until Concur takes it (sent) or refuses it for good (failed). With an Idempotency-Key, a repeat of the same call answers the same reply and queues nothing more. A CRSUC first exchanges the request token for the traveller\'s tokens and stores them (state exchanging); when Concur refuses the token, a CRRET asks for a new one (waiting_token) and the CRSUC follows by itself. 409 while another reply for the request is on its way; 422 exchange_unavailable for a CRSUC while the relay cannot exchange (the summary\'s exchange says why).',
  ),
  request: {
    params: RequestIdParams,
    headers: ReplyHeaders,
    body: { required: true, content: { 'application/json': { schema: ReplyBodyDoc } } },
  },
  responses: {
    202: { description: 'Queued (or, for a repeat, as queued before).', content: { 'application/json': { schema: ReplyResponseDoc } } },
    ...errorResponses(400, 401, 404, 409, 413, 415, 422, 500, 503),
  },
});

/**
 * A 200 answer whose body is JSON already serialised to bytes, typed as the route's JSON answer
 * of type T (what the bytes were serialised from): the route types cannot see into bytes.
 */
function jsonBytes<T>(c: Context<AppEnv>, bytes: Uint8Array<ArrayBuffer>, headers: Readonly<Record<string, string>>): TypedResponse<T, 200, 'json'> {
  return c.body(bytes, 200, headers) as unknown as TypedResponse<T, 200, 'json'>;
}

/** A page as sent: its JSON bytes and its headers (the latest event id when it was read, its Link). */
interface PageAnswer {
  bytes: Uint8Array<ArrayBuffer>;
  headers: Readonly<Record<string, string>>;
}

/**
 * `Link: <?…>; rel="next"` (RFC 8288, as GitHub's API pages): the next page, with the query in
 * the order the relay reads it (group, limit, cursor), as the extension's client writes it. A
 * client can ask for it as soon as the headers are in, before it has read (and checked) the body.
 * A query-only reference (RFC 3986: same path, this query), so that it stays right behind a proxy
 * that serves the relay under a path of its own. Built once per kept page: the query is its key.
 */
function nextLink(query: { group?: string; limit: number }, next: string): string {
  const params = new URLSearchParams();
  if (query.group !== undefined) params.set('group', query.group);
  params.set('limit', String(query.limit));
  params.set('cursor', next);
  return `<?${params.toString()}>; rel="next"`;
}

/** `GET /requests`, `GET /requests/{id}`, `POST /requests/{id}/reply` (mounted under /api/v1). */
export function requestsRoutes(deps: RequestsRouteDeps): OpenAPIHono<AppEnv> {
  const { store, outbox } = deps;
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  /**
   * Pages as the bytes of their JSON, by query, until the store changes (see AnswerCache): the
   * extension and other clients ask for the same first pages over and over, and between two
   * polls nothing changes. A cursor the store did not make throws, and is not kept. A kept page's
   * event id stays true: any event that commits empties the cache (and a page read while one
   * committed is not kept).
   */
  const pages = new AnswerCache<PageAnswer>(store.events);

  // The store builds RequestsPage and ConnectionRequest from its rows through one typed mapping
  // (store/mapping.ts: exactly the API's fields, never the request token), so they are sent as
  // they are; the tests check every answer against the shared models.
  app.openapi(listRequests, async (c) => {
    const { group, limit, cursor } = c.req.valid('query');
    const page = await pages.get(`${group ?? ''} ${limit} ${cursor ?? ''}`, async () => {
      // The event id before the page: an event that commits in between is one the page may show
      // already, and a client resuming from this id gets it again; none is missed.
      const eventId = String(await store.events.latestId());
      const listed = await store.requests.list({ group, limit, cursor });
      const headers: Record<string, string> = { 'Content-Type': 'application/json', [EVENT_ID_HEADER]: eventId };
      if (listed.nextCursor !== null) headers.Link = nextLink({ group, limit }, listed.nextCursor);
      return { headers, bytes: Buffer.from(JSON.stringify(listed), 'utf8') };
    });
    return jsonBytes<RequestsPage>(c, page.bytes, page.headers);
  });

  app.openapi(getRequest, async (c) => {
    const { id } = c.req.valid('param');
    const request = await store.requests.get(id);
    if (request === undefined) throw new UnknownRequestError(id);
    return c.json(request, 200);
  });

  app.openapi(postReply, async (c) => {
    const { id } = c.req.valid('param');
    const { status } = c.req.valid('json');
    const idempotencyKey = c.req.valid('header')['Idempotency-Key'];
    // Committed to the database before this returns: the 202 below never promises more than is stored.
    const result = await store.replies.enqueue(id, status, { actor: actorOf(c), idempotencyKey });
    // The caller's next list shows its reply: the commit's event empties the pages too, but a
    // store may announce it after the write's promise has settled (only SQLite's does so before).
    pages.clear();
    if (!result.repeated) {
      try {
        outbox.kick();
      } catch (err) {
        // The reply is stored; the worker's own timer will pick it up.
        requestLogger(c)?.warn({ err }, 'could not wake the outbox; the reply will go out on its next tick');
      }
    }
    return c.json(ReplyResponse.parse({ reply: result.reply }), 202);
  });

  return app;
}
