import type { AccessCheck } from './access.js';
import type { AuthHeader } from './auth.js';
import type { CallRoute, FaultKind } from './faults.js';

/**
 * Every call the Concur routes received, for tests to assert on. Never holds a credential: the
 * Authorization header is reduced to its scheme, and secrets in query strings and form bodies
 * (request tokens, passwords, client secrets, access and refresh tokens) are redacted.
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
  /** What the sandbox made of the credentials (access.ts): null where the route needs none. */
  auth: AccessCheck | null;
  format: 'xml' | 'json';
  /** The connection request the call was about (get, put). */
  requestId: string | null;
  /** The status the PUT body carried, as sent (null if none could be read). */
  putStatus: string | null;
  /** The grant asked for: the token route's grant_type; `refresh_token` for a legacy refresh. */
  grantType: string | null;
  /** The token route's form body, secrets redacted (null elsewhere, or when it was no form). */
  form: Record<string, string> | null;
  durationMs: number | null;
}

const SECRET_PARAMS = new Set(['client_secret', 'code', 'refresh_token', 'password', 'access_token', 'token', 'id_token', 'otp']);

/** Parameters by name (the first of each), with every secret replaced by `[redacted]`. */
export function redactParams(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of params) {
    if (key in out) continue;
    out[key] = SECRET_PARAMS.has(key.toLowerCase()) ? '[redacted]' : value;
  }
  return out;
}

export function redactQuery(url: URL): Record<string, string> {
  return redactParams(url.searchParams);
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
    return this.#calls.map((call) => ({ ...call, query: { ...call.query }, form: call.form === null ? null : { ...call.form } }));
  }

  clear(): number {
    const count = this.#calls.length;
    this.#calls = [];
    return count;
  }
}
