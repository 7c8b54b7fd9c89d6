import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ConcurError } from './errors.js';
import { type AllowedOrigins, whereTo } from './origins.js';

/**
 * One HTTP exchange with Concur, with the two guarantees the relay needs: it ends, and it is small.
 *
 * node:http rather than fetch: a sweep is a thousand small sequential requests, and fetch's
 * WHATWG machinery (streams, Headers, the request algorithm) cost more per request than reading
 * the page did. Connections are kept alive and reused (idle ones do not hold the process open).
 * Redirects are never followed: Concur does not send them for this API, and following one
 * would carry the token elsewhere. For the same reason every request names the origins it may go
 * to, and a URL outside them is refused before a socket is opened (see origins.ts).
 */

export interface HttpRequest {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** Absolute; a URL the caller has already resolved is not parsed again. */
  url: string | URL;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  maxBytes: number;
  /** Where this request may go, since it carries a Concur credential; checked on the final URL, right before sending. */
  allowedOrigins: AllowedOrigins;
  /** Told once how the call ended (Concur's HTTP status, or the failure kind when none came) and how long it took, retries included. */
  observe?: CallObserver;
}

export type CallObserver = (outcome: number | ConcurError['kind'], seconds: number) => void;

/** The response headers the relay reads, by lower-case name (the last value when a header repeats). */
export interface ResponseHeaders {
  get(name: string): string | null;
}

export interface HttpResponse {
  status: number;
  headers: ResponseHeaders;
  body: string;
}

const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 8 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 8 });

export async function send(req: HttpRequest): Promise<HttpResponse> {
  if (req.observe === undefined) return sendOnce(req);
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const res = await sendOnce(req);
    req.observe(res.status, seconds());
    return res;
  } catch (error) {
    req.observe(error instanceof ConcurError ? error.kind : 'unavailable', seconds());
    throw error;
  }
}

async function sendOnce(req: HttpRequest): Promise<HttpResponse> {
  const url = typeof req.url === 'string' ? new URL(req.url) : req.url;
  const what = `${req.method} ${url.pathname}`;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConcurError('unavailable', `${what}: could not reach Concur (not an http(s) URL)`);
  }
  const deadline = Date.now() + req.timeoutMs;
  const first = await exchange(req, url, what, req.timeoutMs);
  if (!('stale' in first)) return first;
  // A kept-alive connection the server had already closed (its idle timeout, seen too late):
  // the request never reached it. A GET is asked again once, on a new connection, within the
  // same deadline; anything else fails as it is, since the outbox reads back what it cannot know.
  if (req.method !== 'GET') throw first.stale;
  const second = await exchange(req, url, what, Math.max(1, deadline - Date.now()));
  if ('stale' in second) throw second.stale;
  return second;
}

/** One request on one connection. `stale`: it failed before any answer on a reused connection. */
function exchange(req: HttpRequest, url: URL, what: string, timeoutMs: number): Promise<HttpResponse | { stale: ConcurError }> {
  // Here, on the very URL handed to node:http below, so that no caller can send a credential elsewhere.
  if (!req.allowedOrigins.allows(url)) {
    const refused = `refused to send a Concur credential to ${whereTo(url)}; the relay talks only to ${req.allowedOrigins}`;
    return Promise.reject(new ConcurError('bad_response', `${what}: ${refused}`));
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    let answered = false;
    const fail = (error: ConcurError) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      outgoing.destroy();
      reject(error);
    };
    const headers = req.body === undefined ? req.headers : { ...req.headers, 'content-length': Buffer.byteLength(req.body) };
    const secure = url.protocol === 'https:';
    const open = secure ? httpsRequest : httpRequest;
    const outgoing = open(url, { method: req.method, headers, agent: secure ? httpsAgent : httpAgent }, (res) => {
      answered = true;
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > req.maxBytes) {
        fail(tooLarge(what, declared, req.maxBytes));
        return;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > req.maxBytes) fail(tooLarge(what, total, req.maxBytes, true));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve({ status: res.statusCode ?? 0, headers: readHeaders(res), body: Buffer.concat(chunks, total).toString('utf8') });
      });
      res.on('error', (err) => fail(unreachable(what, err)));
      // A connection cut half-way through the body.
      res.on('aborted', () => fail(unreachable(what, Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))));
    });
    // One deadline for connect, headers and body: a Concur that trickles bytes forever still times out.
    const deadline = setTimeout(
      () => fail(new ConcurError('timeout', `${what}: Concur did not answer within ${req.timeoutMs / 1000} s`)),
      timeoutMs,
    );
    outgoing.on('error', (err) => {
      const code = (err as { code?: unknown }).code;
      if (!settled && !answered && outgoing.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) {
        settled = true;
        clearTimeout(deadline);
        outgoing.destroy();
        resolve({ stale: unreachable(what, err) });
        return;
      }
      fail(unreachable(what, err));
    });
    outgoing.end(req.body);
  });
}

function readHeaders(res: IncomingMessage): ResponseHeaders {
  const all = res.headers;
  return {
    get(name) {
      const value = all[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? (value.at(-1) ?? null) : value;
    },
  };
}

function unreachable(what: string, err: unknown): ConcurError {
  const code = (err as { code?: unknown } | null)?.code;
  const said = typeof code === 'string' ? code : 'network error';
  return new ConcurError('unavailable', `${what}: could not reach Concur (${said})`, {}, { cause: err });
}

function tooLarge(what: string, size: number, maxBytes: number, atLeast = false): ConcurError {
  return new ConcurError(
    'bad_response',
    `${what}: response body of ${atLeast ? 'more than ' : ''}${size} bytes exceeds the limit of ${maxBytes} bytes`,
  );
}

/** Retry-After is either seconds or an HTTP date; anything else is ignored. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}
