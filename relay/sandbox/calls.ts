import type { AuthHeader, TokenCheck } from './auth.js';
import type { CallRoute, FaultKind } from './faults.js';

/**
 * Every call the Concur routes received, for tests to assert on. Never holds a credential: the
 * Authorization header is reduced to its scheme, and secrets in query strings are redacted.
 */

export interface CallRecord {
  seq: number;
  /** ISO-8601, on the sandbox clock. */
  at: string;
  method: string;
  /** The path as the client sent it (not normalised). */
  path: string;
  query: Record<string, string>;
  route: CallRoute;
  /** The HTTP status answered; null when the call got no answer (hang, reset, or still in progress). */
  status: number | null;
  /** The fault injected into this call, if one decided the answer. */
  fault: FaultKind | null;
  /** 'OAuth' | 'Bearer', the scheme as sent when it was something else, or null without a header. */
  authScheme: string | null;
  /** What the sandbox made of the credentials: null where the route needs none. */
  auth: 'ok' | 'missing' | 'malformed' | Exclude<TokenCheck, 'ok'> | null;
  format: 'xml' | 'json';
  /** The connection request the call was about (get, put). */
  requestId: string | null;
  /** The status the PUT body carried, as sent (null if none could be read). */
  putStatus: string | null;
  /** The OAuth grant_type asked for (token route). */
  grantType: string | null;
  durationMs: number | null;
}

const SECRET_PARAMS = new Set(['client_secret', 'code', 'refresh_token', 'password', 'access_token', 'token']);

export function redactQuery(url: URL): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    if (key in query) continue;
    query[key] = SECRET_PARAMS.has(key.toLowerCase()) ? '[redacted]' : value;
  }
  return query;
}

export function schemeOf(header: AuthHeader): string | null {
  if (header.kind === 'missing') return null;
  return header.scheme;
}

export class CallLog {
  #calls: CallRecord[] = [];
  #seq = 0;

  constructor(private readonly max = 5000) {}

  start(fields: Omit<CallRecord, 'seq'>): CallRecord {
    const record: CallRecord = { seq: ++this.#seq, ...fields };
    this.#calls.push(record);
    if (this.#calls.length > this.max) this.#calls.splice(0, this.#calls.length - this.max);
    return record;
  }

  list(): CallRecord[] {
    return this.#calls.map((call) => ({ ...call, query: { ...call.query } }));
  }

  clear(): number {
    const count = this.#calls.length;
    this.#calls = [];
    return count;
  }
}
