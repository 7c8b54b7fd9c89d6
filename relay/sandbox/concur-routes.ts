import type { Context, Hono } from 'hono';
import { FORBIDDEN_MESSAGE, UNAUTHORIZED_MESSAGE, parseAuthorization } from './auth.js';
import { type CallRecord, redactQuery, schemeOf } from './calls.js';
import { isoTime } from './clock.js';
import type { SandboxContext, SandboxEnv } from './context.js';
import { type CallRoute, DEFAULT_RETRY_AFTER_SECONDS, type Fault } from './faults.js';
import { type ConcurFormat, type ConcurVersion, writeAccessToken, writePage, writeRecord } from './format/index.js';
import { MAX_PUT_BODY_BYTES, parsePutBody } from './format/put-body.js';
import { JSON_TYPE, concurErrorResponse, contentType, delay, negotiate, queryParams } from './http.js';
import { legacyAccessToken, uuid } from './random.js';
import { STATUS_FILTERS, type StatusFilter, collectionUri, parseStatusFilter, toConcurRecord } from './state.js';

/**
 * The routes a partner's code talks to, behaving as Concur does:
 *   GET  /api/v3.{0,2}/common/connectionrequests            (status, offset, limit)
 *   GET  /api/v3.{0,2}/common/connectionrequests/{id}
 *   PUT  /api/v3.{0,2}/common/connectionrequests/{id}
 *   GET  /net2/oauth2/getaccesstoken.ashx?code=…            (legacy request-token exchange)
 *   POST /oauth2/v0/token                                    (OAuth 2.0: refresh_token, client_credentials)
 */

type SandboxContextC = Context<SandboxEnv>;
type Handler = (c: SandboxContextC, call: CallRecord, format: ConcurFormat) => Promise<Response> | Response;

export const DEFAULT_LIMIT = 5;
const ONE_YEAR_MS = 365 * 24 * 60 * 60 * 1000;

/** Concur's legacy Expiration_Date: `3/30/2013 2:19:10 PM` (UTC). */
function legacyDate(ms: number): string {
  const d = new Date(ms);
  const hours = d.getUTCHours() % 12 || 12;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${hours}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCHours() < 12 ? 'AM' : 'PM'}`;
}

/** Cuts a body off half-way, as a dropped connection behind a proxy would. */
function truncate(body: string, format: ConcurFormat): string {
  if (body.length < 8) {
    return format === 'json' ? '{"Items":[{"ID":"' : '<?xml version="1.0" encoding="utf-8"?><ConnectionRequests><Items><ConnectionRequest><ID>';
  }
  return body.slice(0, Math.floor(body.length / 2));
}

export function registerConcurRoutes(app: Hono<SandboxEnv>, ctx: SandboxContext): void {
  const now = () => ctx.clock.now();
  const error = (status: number, message: string, format: ConcurFormat, headers?: Record<string, string>) =>
    concurErrorResponse(status, message, format, now(), headers);

  /** What an injected fault answers instead of the route (null: let the route answer). */
  async function faultAnswer(
    c: SandboxContextC,
    fault: Fault,
    format: ConcurFormat,
    normal: () => Promise<Response>,
  ): Promise<Response | null> {
    const signal = c.req.raw.signal;
    switch (fault.kind) {
      case 'status503':
        return error(
          503,
          'Service Unavailable. The service is down for maintenance; please try again later.',
          format,
          fault.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(fault.retryAfterSeconds) },
        );
      case 'status429':
        return error(429, 'Too Many Requests. The services are overloaded; slow the rate of requests.', format, {
          'Retry-After': String(fault.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS),
        });
      case 'error200':
        return error(200, 'An unexpected error occurred while processing the request. Please retry later.', format);
      case 'malformed': {
        const response = await normal();
        const body = truncate(await response.text(), format);
        return new Response(body, { status: 200, headers: { 'Content-Type': contentType(format) } });
      }
      case 'hang':
        await ctx.lifecycle.hang(signal);
        return null;
      case 'reset': {
        const socket = (c.env as Partial<SandboxEnv['Bindings']> | undefined)?.incoming?.socket;
        if (!socket) return error(500, 'Connection reset (simulated; there is no socket in-process).', format);
        socket.destroy();
        await ctx.lifecycle.hang(signal);
        return null;
      }
      case 'latency':
        return null;
    }
  }

  /** Wraps a route: the call log, injected faults, then authentication, then the route itself. */
  function concur(route: CallRoute, needsAuth: boolean, handler: Handler, forceFormat?: ConcurFormat) {
    return async (c: SandboxContextC): Promise<Response> => {
      const started = performance.now();
      const url = new URL(c.req.url);
      const format = forceFormat ?? negotiate(c.req.header('accept'));
      const header = parseAuthorization(c.req.header('authorization'));
      const call = ctx.calls.start({
        at: isoTime(now()),
        method: c.req.method,
        path: url.pathname,
        query: redactQuery(url),
        route,
        status: null,
        fault: null,
        authScheme: schemeOf(header),
        auth: null,
        format,
        requestId: null,
        putStatus: null,
        grantType: null,
        durationMs: null,
      });

      const normal = async (): Promise<Response> => {
        if (needsAuth) {
          if (header.kind === 'missing') {
            call.auth = 'missing';
            return error(401, UNAUTHORIZED_MESSAGE, format);
          }
          if (header.kind === 'malformed') {
            call.auth = 'malformed';
            return error(403, FORBIDDEN_MESSAGE, format);
          }
          const check = ctx.auth.check(header.token);
          call.auth = check;
          if (check !== 'ok') return error(403, FORBIDDEN_MESSAGE, format);
        }
        return handler(c, call, format);
      };

      let response: Response | null;
      const plan = ctx.faults.take(route);
      if (plan.latencyMs > 0 && !(await delay(plan.latencyMs, c.req.raw.signal))) {
        response = null; // the client gave up while we dawdled
      } else if (plan.terminal) {
        call.fault = plan.terminal.kind;
        response = await faultAnswer(c, plan.terminal, format, normal);
      } else {
        response = await normal();
      }
      call.status = response?.status ?? null;
      call.durationMs = Math.round(performance.now() - started);
      // Nobody will read this one: the client is gone or the socket was destroyed.
      return response ?? new Response(null, { status: 499 });
    };
  }

  for (const version of ['3.0', '3.2'] as const satisfies readonly ConcurVersion[]) {
    const base = `/api/v${version}/common/connectionrequests`;
    app.get(base, concur('list', true, (c, _call, format) => list(c, format, version)));
    app.get(`${base}/:id`, concur('get', true, (c, call, format) => getOne(c, call, format, version)));
    app.put(`${base}/:id`, concur('put', true, (c, call, format) => put(c, call, format)));
    // ASP.NET Web API's answer to any other method.
    app.all(base, (c) => methodNotAllowed(c));
    app.all(`${base}/:id`, (c) => methodNotAllowed(c));
  }
  app.get('/net2/oauth2/getaccesstoken.ashx', concur('exchange', false, (c, _call, format) => exchange(c, format)));
  app.post(
    '/oauth2/v0/token',
    concur('token', false, (c, call) => token(c, call), 'json'),
  );

  function methodNotAllowed(c: SandboxContextC): Response {
    return error(
      405,
      `The requested resource does not support http method '${c.req.method}'.`,
      negotiate(c.req.header('accept')),
      { Allow: 'GET, PUT' },
    );
  }

  function list(c: SandboxContextC, format: ConcurFormat, pathVersion: ConcurVersion): Response {
    const url = new URL(c.req.url);
    const params = queryParams(url);

    const rawStatus = params.get('status')?.trim() ?? '';
    let filter: StatusFilter = 'Pending';
    if (rawStatus !== '') {
      const parsed = parseStatusFilter(rawStatus);
      if (!parsed) {
        return error(400, `The value '${rawStatus}' is not valid for status. Use one of: ${STATUS_FILTERS.join(', ')}.`, format);
      }
      filter = parsed;
    }

    const rawLimit = params.get('limit')?.trim() ?? '';
    let limit = DEFAULT_LIMIT;
    if (rawLimit !== '') {
      if (!/^[+-]?\d{1,9}$/.test(rawLimit)) return error(400, `The value '${rawLimit}' is not valid for limit.`, format);
      limit = Number(rawLimit);
      if (limit < 1) return error(400, `The limit must be between 1 and ${ctx.maxLimit}; it was ${limit}.`, format);
      if (limit > ctx.maxLimit) {
        if (ctx.quirks.overLimit === 'reject') {
          return error(400, `The limit must be between 1 and ${ctx.maxLimit}; it was ${limit}.`, format);
        }
        limit = ctx.maxLimit;
      }
    }

    const rawOffset = params.get('offset')?.trim() ?? '';
    let afterSeq = 0;
    if (rawOffset !== '') {
      const resolved = ctx.state.resolveOffset(rawOffset);
      if (resolved === undefined) return error(400, `The value '${rawOffset}' is not valid for offset.`, format);
      afterSeq = resolved;
    }

    const { items, more } = ctx.state.page(filter, afterSeq, limit);
    const last = items.at(-1);
    let nextPage: string | null = null;
    if (more && last) {
      const next = new URLSearchParams({ offset: ctx.state.offsetAfter(last.seq), limit: String(limit) });
      if (rawStatus !== '') next.set('status', filter);
      nextPage = `${collectionUri(url.origin, pathVersion)}?${next.toString()}`;
    }
    const version = ctx.quirks.version ?? pathVersion;
    const records = items.map((request) => toConcurRecord(request, url.origin, pathVersion));
    const body = writePage(records, nextPage, {
      format,
      version,
      bareRoot: ctx.quirks.bareRoot,
      statusCase: ctx.quirks.statusCase,
    });
    return new Response(body, { status: 200, headers: { 'Content-Type': contentType(format) } });
  }

  function getOne(c: SandboxContextC, call: CallRecord, format: ConcurFormat, pathVersion: ConcurVersion): Response {
    const id = c.req.param('id') ?? '';
    call.requestId = id;
    const request = ctx.state.get(id);
    if (!request) return error(404, `Connection request ${id} was not found.`, format);
    const origin = new URL(c.req.url).origin;
    const body = writeRecord(toConcurRecord(request, origin, pathVersion), {
      format,
      version: ctx.quirks.version ?? pathVersion,
      statusCase: ctx.quirks.statusCase,
    });
    return new Response(body, { status: 200, headers: { 'Content-Type': contentType(format) } });
  }

  async function put(c: SandboxContextC, call: CallRecord, format: ConcurFormat): Promise<Response> {
    const id = c.req.param('id') ?? '';
    call.requestId = id;
    if (!ctx.state.get(id)) return error(404, `Connection request ${id} was not found.`, format);
    const declared = Number(c.req.header('content-length') ?? '0');
    if (declared > MAX_PUT_BODY_BYTES) {
      return error(400, `The request body is larger than ${MAX_PUT_BODY_BYTES} bytes.`, format);
    }
    const parsed = parsePutBody(await c.req.text(), c.req.header('content-type'));
    call.putStatus = parsed.raw;
    if (!parsed.ok) return error(400, parsed.message, format);
    const outcome = ctx.state.reply(id, parsed.status, ctx.quirks.repeatReplies);
    if (!outcome.ok) return error(outcome.reason === 'not_found' ? 404 : 400, outcome.message, format);
    await ctx.hooks.onReplyApplied?.({ requestId: id, status: parsed.status, repeated: outcome.repeated });
    return new Response(null, { status: 204 });
  }

  function exchange(c: SandboxContextC, format: ConcurFormat): Response {
    const url = new URL(c.req.url);
    const params = queryParams(url);
    const code = params.get('code') ?? '';
    const { clientId, clientSecret } = ctx.auth.credentials;
    if (params.get('client_id') !== clientId || params.get('client_secret') !== clientSecret) {
      return error(401, 'Invalid client_id or client_secret.', format);
    }
    if (code === '') return error(400, 'The code parameter (the request token) is required.', format);
    const outcome = ctx.state.exchange(code);
    if (!outcome.ok) return error(400, outcome.message, format);
    // The user's own access token, for the partner to keep: not accepted on the Connection Requests routes.
    const answer = {
      instanceUrl: `${url.origin}/`,
      token: legacyAccessToken(),
      expires: legacyDate(now() + ONE_YEAR_MS),
      refreshToken: uuid(),
    };
    return new Response(writeAccessToken(answer, format), { status: 200, headers: { 'Content-Type': contentType(format) } });
  }

  async function token(c: SandboxContextC, call: CallRecord): Promise<Response> {
    const form = new URLSearchParams(await c.req.text());
    call.grantType = form.get('grant_type');
    const origin = new URL(c.req.url).origin;
    const answer = ctx.auth.token(form, origin);
    return new Response(JSON.stringify(answer.body), {
      status: answer.status,
      headers: { 'Content-Type': JSON_TYPE, 'Cache-Control': 'no-store' },
    });
  }
}
