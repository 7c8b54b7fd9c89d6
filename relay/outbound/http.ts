import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { checkAddresses, guardedLookup, UrlRefusedError, type ResolvedAddress, type Resolver } from './ssrf.js';

/**
 * One POST to a partner's endpoint: a webhook message (push/webhooks/) or a question to the member
 * directory (match/). node:http rather than fetch, for what such a sender needs:
 * redirects are never followed, the connection's own DNS lookup is the SSRF check (ssrf.ts), each
 * attempt gets a fresh connection (no keep-alive socket skips that check), one deadline covers
 * connecting, sending and the answer's headers, and no more of the answer's body is read than is kept.
 */

export interface PostOptions {
  timeoutMs: number;
  /** RELAY_WEBHOOK_ALLOW_PRIVATE (which covers the member directory too): skip the address check. */
  allowPrivate: boolean;
  /** Host name resolution (default: the system resolver). */
  resolve?: Resolver;
  /** How much of the answer's body is read and kept. */
  maxResponseBytes: number;
}

export interface PostResult {
  /** The HTTP status, or null when no answer came (refused, unreachable, timed out). */
  status: number | null;
  headers: IncomingHttpHeaders;
  /** The start of the answer's body (at most maxResponseBytes), or null when empty or none. */
  body: string | null;
  /** Why there is no answer (null when there is one). */
  error: string | null;
  timedOut: boolean;
}

function describe(error: unknown): string {
  if (error instanceof UrlRefusedError) return `refused: ${error.message}`;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'the connection was refused (ECONNREFUSED)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name could not be resolved (${code})`;
    case 'ECONNRESET':
      return 'the connection was reset before an answer came (ECONNRESET)';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `the host cannot be reached (${code})`;
    default: {
      const message = error instanceof Error ? error.message : String(error);
      return `could not deliver: ${code ?? message}`.slice(0, 300);
    }
  }
}

/** A lookup without the address check, for RELAY_WEBHOOK_ALLOW_PRIVATE with a custom resolver. */
function plainLookup(resolve: Resolver) {
  return (
    hostname: string,
    options: { all?: boolean } | number,
    callback: (error: NodeJS.ErrnoException | null, address: string | ResolvedAddress[], family?: number) => void,
  ): void => {
    const all = typeof options === 'object' && options.all === true;
    resolve(hostname).then(
      (addresses) => {
        const first = addresses[0];
        if (first === undefined) callback(new UrlRefusedError(`the host name ${hostname} could not be resolved`, 'unresolvable'), all ? [] : '');
        else if (all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, all ? [] : ''),
    );
  };
}

export function postMessage(
  url: string,
  body: string,
  headers: Readonly<Record<string, string>>,
  options: PostOptions,
): Promise<PostResult> {
  const none = (error: string, timedOut = false): PostResult => ({ status: null, headers: {}, body: null, error, timedOut });
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve(none('refused: the URL is not valid'));
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    return Promise.resolve(none('refused: only http and https URLs are delivered to'));
  }
  const host = target.hostname.replace(/^\[|\]$/g, '');
  if (!options.allowPrivate && isIP(host) !== 0) {
    // A literal address never goes through the lookup: check it here.
    try {
      checkAddresses(host, [{ address: host, family: isIP(host) }]);
    } catch (error) {
      return Promise.resolve(none(describe(error)));
    }
  }
  const lookup = options.allowPrivate
    ? options.resolve === undefined
      ? undefined
      : plainLookup(options.resolve)
    : guardedLookup(options.resolve);
  const payload = Buffer.from(body, 'utf8');
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;

  return new Promise<PostResult>((resolve) => {
    let settled = false;
    let answered: { status: number; headers: IncomingHttpHeaders; chunks: Buffer[]; size: number } | undefined;
    const finish = (result: PostResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
      req.destroy();
    };
    const fromAnswer = (): PostResult => {
      const text = answered === undefined ? '' : Buffer.concat(answered.chunks).toString('utf8');
      return { status: answered?.status ?? null, headers: answered?.headers ?? {}, body: text === '' ? null : text, error: null, timedOut: false };
    };

    const req = send(target, {
      method: 'POST',
      headers: { ...headers, 'Content-Length': String(payload.length) },
      agent: false,
      ...(lookup === undefined ? {} : { lookup: lookup as never }),
    });
    const timer = setTimeout(() => {
      // Once the status is in, the endpoint has answered: a slow body does not undo that.
      if (answered !== undefined) finish(fromAnswer());
      else finish(none(`no answer within ${options.timeoutMs} ms (timed out)`, true));
    }, options.timeoutMs);

    req.on('error', (error) => {
      if (answered !== undefined) finish(fromAnswer());
      else finish(none(describe(error)));
    });
    req.on('response', (res) => {
      answered = { status: res.statusCode ?? 0, headers: res.headers, chunks: [], size: 0 };
      const state = answered;
      res.on('data', (chunk: Buffer) => {
        const room = options.maxResponseBytes - state.size;
        if (room > 0) {
          const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
          state.chunks.push(part);
          state.size += part.length;
        }
        // Enough kept: the rest is not read at all.
        if (state.size >= options.maxResponseBytes) finish(fromAnswer());
      });
      res.on('end', () => finish(fromAnswer()));
      res.on('error', () => finish(fromAnswer()));
      res.on('aborted', () => finish(fromAnswer()));
    });
    req.end(payload);
  });
}
