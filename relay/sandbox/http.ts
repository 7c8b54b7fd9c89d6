import { type ConcurFormat, writeError } from './format/index.js';
import { errorId } from './random.js';

/** HTTP details shared by the sandbox's Concur routes: content negotiation, paths, error bodies. */

export const XML_TYPE = 'application/xml; charset=utf-8';
export const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * XML unless the Accept header prefers JSON ("If no Accept header is supplied, XML is returned for
 * backward compatibility"). Content-Type is deliberately ignored: the seed sends
 * `Content-Type: application/xml` on a GET and expects XML either way.
 */
export function negotiate(accept: string | undefined): ConcurFormat {
  if (!accept) return 'xml';
  const ranges = accept
    .split(',')
    .map((part, index) => {
      const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      const q = params.find((p) => p.startsWith('q='));
      const weight = q === undefined ? 1 : Number(q.slice(2));
      return { type, weight: Number.isFinite(weight) ? weight : 0, index };
    })
    .filter((range) => range.weight > 0)
    .sort((a, b) => b.weight - a.weight || a.index - b.index);
  for (const { type } of ranges) {
    if (type.endsWith('/json') || type.endsWith('+json')) return 'json';
    if (type.endsWith('/xml') || type.endsWith('+xml') || type === '*/*' || type === 'application/*') return 'xml';
  }
  return 'xml';
}

export function contentType(format: ConcurFormat): string {
  return format === 'json' ? JSON_TYPE : XML_TYPE;
}

/** Concur's `Error{Message, Server-Time, Id}` as a Response. */
export function concurErrorResponse(
  status: number,
  message: string,
  format: ConcurFormat,
  now: number,
  headers: Record<string, string> = {},
): Response {
  const body = writeError({ message, id: errorId(), serverTime: now }, format);
  return new Response(body, { status, headers: { 'Content-Type': contentType(format), ...headers } });
}

const CR_PREFIX = /^\/api\/v3\.(0|2)\/common\/connectionrequests(?=\/|$)/i;

/**
 * The path Hono routes on. Concur's paths are case-insensitive (the seed mixes
 * `Common/ConnectionRequests` and `common/connectionrequests`) and tolerate a trailing slash
 * (v3.2's NextPage is `…/connectionrequests/?limit=2&offset=4`), but IDs are case-sensitive.
 */
export function routingPath(request: Request): string {
  const url = request.url;
  const start = url.indexOf('/', url.indexOf('://') + 3);
  const queryAt = url.indexOf('?', start);
  let path = start === -1 ? '/' : url.slice(start, queryAt === -1 ? undefined : queryAt);
  const hashAt = path.indexOf('#');
  if (hashAt !== -1) path = path.slice(0, hashAt);
  if (path.length > 1 && path.endsWith('/')) path = path.replace(/\/+$/, '') || '/';
  if (CR_PREFIX.test(path)) return path.replace(CR_PREFIX, (prefix) => prefix.toLowerCase());
  if (/^\/(api|net2|oauth2)\//i.test(path)) return path.toLowerCase();
  return path;
}

/** Query parameters by lower-cased name (ASP.NET binds them case-insensitively); the first one wins. */
export function queryParams(url: URL): Map<string, string> {
  const params = new Map<string, string>();
  for (const [key, value] of url.searchParams) {
    const name = key.toLowerCase();
    if (!params.has(name)) params.set(name, value);
  }
  return params;
}

/** Resolves after `ms`, or as soon as `signal` aborts. Returns false when aborted. */
export function delay(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
