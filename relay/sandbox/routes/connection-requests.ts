import type { CallRecord } from '../calls.js';
import type { SandboxContext } from '../context.js';
import { type ConcurFormat, type ConcurVersion, writePage, writeRecord } from '../format/index.js';
import { MAX_PUT_BODY_BYTES, parsePutBody } from '../format/put-body.js';
import { contentType, negotiate, queryParams } from '../http.js';
import { queuePage } from '../queue32.js';
import { STATUS_FILTERS, type StatusFilter, collectionUri, parseStatusFilter, toConcurRecord } from '../records.js';
import type { SandboxRequest } from '../state.js';
import { concurError, type SandboxContextC } from './wrap.js';

/** The Connection Requests resource: list (status, offset, limit), one by id, a partner's PUT. */

const DEFAULT_LIMIT = 5;

export function list(ctx: SandboxContext, c: SandboxContextC, format: ConcurFormat, pathVersion: ConcurVersion): Response {
  if (pathVersion === '3.2') return listQueue(ctx, c, format);
  const url = new URL(c.req.url);
  const params = queryParams(url);
  const refuse = (message: string) => concurError(ctx, 400, message, format);

  const rawStatus = params.get('status')?.trim() ?? '';
  let filter: StatusFilter = 'Pending';
  if (rawStatus !== '') {
    const parsed = parseStatusFilter(rawStatus);
    if (!parsed) return refuse(`The value '${rawStatus}' is not valid for status. Use one of: ${STATUS_FILTERS.join(', ')}.`);
    filter = parsed;
  }

  const limit = readLimit(ctx, params.get('limit'));
  if (typeof limit === 'string') return refuse(limit);

  const rawOffset = params.get('offset')?.trim() ?? '';
  let afterSeq = 0;
  if (rawOffset !== '') {
    const resolved = ctx.state.resolveOffset(rawOffset);
    if (resolved === undefined) return refuse(`The value '${rawOffset}' is not valid for offset.`);
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
  const records = items.map((request) => toConcurRecord(request, url.origin, pathVersion));
  const body = writePage(records, nextPage, {
    format,
    version: ctx.quirks.version ?? pathVersion,
    bareRoot: ctx.quirks.bareRoot,
    statusCase: ctx.quirks.statusCase,
  });
  handOut(ctx, items);
  return new Response(body, { status: 200, headers: { 'Content-Type': contentType(format) } });
}

/** `limit` as both versions read it: the number, or what is wrong with it. */
function readLimit(ctx: SandboxContext, raw: string | null | undefined): number | string {
  const text = raw?.trim() ?? '';
  if (text === '') return DEFAULT_LIMIT;
  if (!/^[+-]?\d{1,9}$/.test(text)) return `The value '${text}' is not valid for limit.`;
  const limit = Number(text);
  if (limit < 1) return `The limit must be between 1 and ${ctx.maxLimit}; it was ${limit}.`;
  if (limit <= ctx.maxLimit) return limit;
  return ctx.quirks.overLimit === 'reject' ? `The limit must be between 1 and ${ctx.maxLimit}; it was ${limit}.` : ctx.maxLimit;
}

/**
 * 3.2's queue (queue32.ts): an integer offset, no status filter (a `status` is ignored: 3.2
 * documents none), NextPage as its example writes it (`…/connectionrequests/?limit=2&offset=4`)
 * while more follow, else null.
 */
function listQueue(ctx: SandboxContext, c: SandboxContextC, format: ConcurFormat): Response {
  const url = new URL(c.req.url);
  const params = queryParams(url);
  const limit = readLimit(ctx, params.get('limit'));
  if (typeof limit === 'string') return concurError(ctx, 400, limit, format);
  const rawOffset = params.get('offset')?.trim() ?? '';
  if (rawOffset !== '' && !/^\d{1,9}$/.test(rawOffset)) return concurError(ctx, 400, `The value '${rawOffset}' is not valid for offset.`, format);
  const offset = rawOffset === '' ? 0 : Number(rawOffset);
  const { items, more } = queuePage(ctx.state, offset, limit);
  // "Request tokens are generated upon GET" (a quirk: the page's Swagger says otherwise).
  if (ctx.quirks.tokenOnGet) for (const request of items) ctx.state.reissueToken(request);
  const nextPage = more ? `${collectionUri(url.origin, '3.2')}/?limit=${limit}&offset=${offset + items.length}` : null;
  // A request whose token was exchanged is still in the queue, and 3.2 shows everything in it as Pending.
  const records = items.map((request) => ({ ...toConcurRecord(request, url.origin, '3.2'), status: 'Pending' as const }));
  const body = writePage(records, nextPage, { format, version: ctx.quirks.version ?? '3.2', bareRoot: ctx.quirks.bareRoot, statusCase: ctx.quirks.statusCase });
  handOut(ctx, items);
  return new Response(body, { status: 200, headers: { 'Content-Type': contentType(format) } });
}

export function getOne(ctx: SandboxContext, c: SandboxContextC, call: CallRecord, format: ConcurFormat, pathVersion: ConcurVersion): Response {
  const id = c.req.param('id') ?? '';
  call.requestId = id;
  const request = ctx.state.get(id);
  if (!request) return concurError(ctx, 404, `Connection request ${id} was not found.`, format);
  const origin = new URL(c.req.url).origin;
  const body = writeRecord(toConcurRecord(request, origin, pathVersion), {
    format,
    version: ctx.quirks.version ?? pathVersion,
    statusCase: ctx.quirks.statusCase,
  });
  handOut(ctx, [request]);
  return new Response(body, { status: 200, headers: { 'Content-Type': contentType(format) } });
}

/**
 * The requests an answer handed out (written before this: the answer still shows them Pending,
 * the status is set after the token was generated) become Processing, unless the `processing`
 * quirk keeps that for the exchange.
 */
function handOut(ctx: SandboxContext, requests: Iterable<SandboxRequest>): void {
  if (ctx.quirks.processing !== 'token') return;
  for (const request of requests) ctx.state.handedOut(request);
}

export async function put(ctx: SandboxContext, c: SandboxContextC, call: CallRecord, format: ConcurFormat, pathVersion: ConcurVersion): Promise<Response> {
  const id = c.req.param('id') ?? '';
  call.requestId = id;
  if (!ctx.state.get(id)) return concurError(ctx, 404, `Connection request ${id} was not found.`, format);
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > MAX_PUT_BODY_BYTES) {
    return concurError(ctx, 400, `The request body is larger than ${MAX_PUT_BODY_BYTES} bytes.`, format);
  }
  const parsed = parsePutBody(await c.req.text(), c.req.header('content-type'));
  call.putStatus = parsed.raw;
  if (!parsed.ok) return concurError(ctx, 400, parsed.message, format);
  // The path's version decides the rules: 3.2 pops and requeues, with its own limits.
  const outcome = ctx.state.reply(id, parsed.status, ctx.quirks.repeatReplies, pathVersion);
  if (!outcome.ok) return concurError(ctx, outcome.reason === 'not_found' ? 404 : 400, outcome.message, format);
  await ctx.hooks.onReplyApplied?.({ requestId: id, status: parsed.status, repeated: outcome.repeated });
  return new Response(null, { status: 204 });
}

/** ASP.NET Web API's answer to any other method on the resource. */
export function methodNotAllowed(ctx: SandboxContext, c: SandboxContextC): Response {
  return concurError(ctx, 405, `The requested resource does not support http method '${c.req.method}'.`, negotiate(c.req.header('accept')), {
    Allow: 'GET, PUT',
  });
}
