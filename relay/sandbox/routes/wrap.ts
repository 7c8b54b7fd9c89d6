import type { Context } from 'hono';
import { type AccessNeed, authenticate } from '../access.js';
import { FORBIDDEN_MESSAGE, UNAUTHORIZED_MESSAGE, parseAuthorization } from '../auth.js';
import { type CallRecord, redactQuery, schemeOf } from '../calls.js';
import { isoTime } from '../clock.js';
import type { SandboxContext, SandboxEnv } from '../context.js';
import { type CallRoute, DEFAULT_RETRY_AFTER_SECONDS, type Fault } from '../faults.js';
import type { ConcurFormat } from '../format/index.js';
import { concurErrorResponse, contentType, delay, negotiate } from '../http.js';
import type { UserGrant } from '../users.js';

/**
 * What every Concur route of the sandbox goes through, in Concur's order: the call log, injected
 * faults (before authentication: a maintenance 503 needs no token), authentication, the route.
 */

export type SandboxContextC = Context<SandboxEnv>;
/** `grant`: the traveller whose token authenticated the call (routes that need one), else null. */
export type Handler = (c: SandboxContextC, call: CallRecord, format: ConcurFormat, grant: UserGrant | null) => Promise<Response> | Response;

export interface RouteSpec {
  route: CallRoute;
  /** Whose token the route takes (access.ts). */
  auth: AccessNeed;
  /** For routes that answer one format whatever is asked (the OAuth endpoint). */
  format?: ConcurFormat;
  /** Says, before faults are chosen, whether the call is a refresh (and notes what it asked for on the call). */
  classify?: (c: SandboxContextC, call: CallRecord) => Promise<boolean> | boolean;
}

/** An error in Concur's own shape, stamped with the sandbox clock. */
export function concurError(ctx: SandboxContext, status: number, message: string, format: ConcurFormat, headers?: Record<string, string>): Response {
  return concurErrorResponse(status, message, format, ctx.clock.now(), headers);
}

export function concurRoute(ctx: SandboxContext, spec: RouteSpec, handler: Handler) {
  return async (c: SandboxContextC): Promise<Response> => {
    const started = performance.now();
    const url = new URL(c.req.url);
    const format = spec.format ?? negotiate(c.req.header('accept'));
    const header = parseAuthorization(c.req.header('authorization'));
    const call = ctx.calls.start({
      at: isoTime(ctx.clock.now()),
      method: c.req.method,
      path: url.pathname,
      query: redactQuery(url),
      route: spec.route,
      status: null,
      fault: null,
      authScheme: schemeOf(header),
      auth: null,
      format,
      requestId: null,
      putStatus: null,
      grantType: null,
      form: null,
      durationMs: null,
    });

    const normal = async (): Promise<Response> => {
      const access = authenticate(ctx, spec.auth, header);
      if (spec.auth !== 'none') {
        call.auth = access.check;
        if (access.check === 'missing') return concurError(ctx, 401, UNAUTHORIZED_MESSAGE, format);
        if (access.check !== 'ok') return concurError(ctx, 403, FORBIDDEN_MESSAGE, format);
      }
      return handler(c, call, format, access.grant);
    };

    const refresh = spec.classify ? await spec.classify(c, call) : false;
    let response: Response | null;
    const plan = ctx.faults.take(spec.route, { refresh });
    if (plan.latencyMs > 0 && !(await delay(plan.latencyMs, c.req.raw.signal))) {
      response = null; // the client gave up while we dawdled
    } else if (plan.terminal) {
      call.fault = plan.terminal.kind;
      response = await faultAnswer(ctx, c, plan.terminal, format, normal);
    } else {
      response = await normal();
    }
    call.status = response?.status ?? null;
    call.durationMs = Math.round(performance.now() - started);
    // Nobody will read this one: the client is gone or the socket was destroyed.
    return response ?? new Response(null, { status: 499 });
  };
}

/** What an injected fault answers instead of the route (null: let the route answer). */
async function faultAnswer(
  ctx: SandboxContext,
  c: SandboxContextC,
  fault: Fault,
  format: ConcurFormat,
  normal: () => Promise<Response>,
): Promise<Response | null> {
  const signal = c.req.raw.signal;
  switch (fault.kind) {
    case 'status503':
      return concurError(
        ctx,
        503,
        'Service Unavailable. The service is down for maintenance; please try again later.',
        format,
        fault.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(fault.retryAfterSeconds) },
      );
    case 'status429':
      return concurError(ctx, 429, 'Too Many Requests. The services are overloaded; slow the rate of requests.', format, {
        'Retry-After': String(fault.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS),
      });
    // The status-code page gives the conditions, not Concur's words: these say them plainly.
    case 'limit400':
      return concurError(ctx, 400, 'The number of requests received exceeds the request limit. Please retry later.', format);
    case 'deadlock400':
      return concurError(ctx, 400, 'The request encountered a database deadlock. Resend the request a short time later.', format);
    case 'error200':
      return concurError(ctx, 200, 'An unexpected error occurred while processing the request. Please retry later.', format);
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
      if (!socket) return concurError(ctx, 500, 'Connection reset (simulated; there is no socket in-process).', format);
      socket.destroy();
      await ctx.lifecycle.hang(signal);
      return null;
    }
    case 'latency':
      return null;
  }
}

/** Cuts a body off half-way, as a dropped connection behind a proxy would. */
function truncate(body: string, format: ConcurFormat): string {
  if (body.length < 8) {
    return format === 'json' ? '{"Items":[{"ID":"' : '<?xml version="1.0" encoding="utf-8"?><ConnectionRequests><Items><ConnectionRequest><ID>';
  }
  return body.slice(0, Math.floor(body.length / 2));
}
