import { ConcurError } from './errors.js';

/** One HTTP exchange with Concur, with the two guarantees the relay needs: it ends, and it is small. */

export interface HttpRequest {
  method: 'GET' | 'PUT' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  maxBytes: number;
  fetch?: typeof fetch;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: string;
}

export async function send(req: HttpRequest): Promise<HttpResponse> {
  const doFetch = req.fetch ?? fetch;
  // One deadline for connect, headers and body: a Concur that trickles bytes forever still times out.
  const signal = AbortSignal.timeout(req.timeoutMs);
  const what = `${req.method} ${new URL(req.url).pathname}`;
  try {
    const res = await doFetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal,
      redirect: 'manual',
    });
    const body = await readCapped(res, req.maxBytes, what);
    return { status: res.status, headers: res.headers, body };
  } catch (err) {
    if (err instanceof ConcurError) throw err;
    if (signal.aborted) {
      throw new ConcurError('timeout', `${what}: Concur did not answer within ${req.timeoutMs / 1000} s`, {}, { cause: err });
    }
    const code = networkCode(err);
    throw new ConcurError('unavailable', `${what}: could not reach Concur (${code ?? 'network error'})`, {}, { cause: err });
  }
}

async function readCapped(res: Response, maxBytes: number, what: string): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel();
    throw tooLarge(what, declared, maxBytes);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge(what, total, maxBytes, true);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

function tooLarge(what: string, size: number, maxBytes: number, atLeast = false): ConcurError {
  return new ConcurError(
    'bad_response',
    `${what}: response body of ${atLeast ? 'more than ' : ''}${size} bytes exceeds the limit of ${maxBytes} bytes`,
  );
}

function networkCode(err: unknown): string | undefined {
  // undici wraps the socket error: TypeError('fetch failed', { cause: { code: 'ECONNRESET' } }).
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as Error & { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
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
