import type { ExchangeStatus } from '../../shared/connections.js';
import { ReplyState } from '../../shared/models.js';
import { isUserErrorCode, type ReplyCode, type VersionRules } from '../../shared/status.js';
import { ExchangeUnavailableError, ReplyInFlightError, RetryLimitError, UnknownRequestError } from './errors.js';
import type { SeenAtConcur } from './replies.js';
import type { ExchangeFacts } from './reply-exchange.js';
import { sha256Hex } from './seal-walk.js';
import { addMs, toIso } from './time.js';

/** What the outbox decides the same way on either database (replies.ts, postgres/replies.ts): no SQL here. */

/**
 * How a request token is kept as evidence: never the token itself (an OAuth credential). The same
 * hash as `requests.request_token_sha256`, which is what the evidence is copied from.
 */
export function requestTokenSha256(token: string): string {
  return sha256Hex(token);
}

/** Counts per state, every state present. */
export function countsOf(rows: ReadonlyArray<{ state: string; n: number }>): Record<ReplyState, number> {
  const counts = Object.fromEntries(ReplyState.options.map((state) => [state, 0])) as Record<ReplyState, number>;
  for (const { state, n } of rows) {
    const known = ReplyState.options.find((s) => s === state);
    if (known !== undefined) counts[known] += n;
  }
  return counts;
}

/** `due`'s limit as a whole number of at least 1. */
export function dueLimit(limit: number): number {
  return Math.max(1, Math.trunc(Number.isFinite(limit) ? limit : 1));
}

/**
 * Whether a reply may be queued for a request (its row: undefined when unknown), in the order the
 * refusals are checked: UnknownRequestError, ReplyInFlightError, ExchangeUnavailableError (a CRSUC
 * while the summary's exchange is unavailable; `exchange` is read for a CRSUC only), RetryLimitError.
 */
export function checkEnqueue(
  requestId: string,
  status: ReplyCode,
  request: { retries: number; user_errors: number } | undefined,
  inFlight: { id: number } | undefined,
  exchange: ExchangeStatus | undefined,
  limits: VersionRules,
): void {
  if (request === undefined) throw new UnknownRequestError(requestId);
  if (inFlight !== undefined) throw new ReplyInFlightError(requestId, inFlight.id);
  if (status === 'CRSUC' && exchange?.state === 'unavailable') {
    throw new ExchangeUnavailableError(requestId, exchange.reason ?? 'the exchange is unavailable');
  }
  if (status === 'CRRET' && request.retries >= limits.CRRET) {
    throw new RetryLimitError(requestId, 'CRRET', request.retries, limits.CRRET);
  }
  if (isUserErrorCode(status) && limits.CREU !== null && request.user_errors >= limits.CREU) {
    throw new RetryLimitError(requestId, 'CREU', request.user_errors, limits.CREU);
  }
}

/** What a sent reply changes of its request: its status, and the counts of CRRETs and CREU codes sent. */
export function sentChanges(status: ReplyCode): { retry: number; user_error: number } {
  return { retry: status === 'CRRET' ? 1 : 0, user_error: isUserErrorCode(status) ? 1 : 0 };
}

/**
 * What an attempt's start records of the request: a read-back's view (fresher than the last
 * poll's), or the last poll's. The request token only as its hash.
 */
export function evidence(known: SeenAtConcur | { request_token_sha256: string | null; concur_last_modified: string | null } | undefined) {
  if (known === undefined) return { token: null, lm: null };
  const token = 'requestToken' in known ? (known.requestToken === null ? null : requestTokenSha256(known.requestToken)) : known.request_token_sha256;
  const lastModified = 'lastModified' in known ? known.lastModified : known.concur_last_modified;
  return { token, lm: lastModified === null ? null : toIso(lastModified) };
}

/** ExchangeFacts from the request's row. */
export function exchangeFactsOf(
  row: { user_id: string | null; request_token_issued_at: string | null; retries: number },
  { CRRET: retryLimit, requestTokenLifetimeMs }: Pick<VersionRules, 'CRRET' | 'requestTokenLifetimeMs'>,
): ExchangeFacts {
  const issued = row.request_token_issued_at;
  const tokenExpiresAt = issued === null ? null : addMs(issued, requestTokenLifetimeMs);
  return { userId: row.user_id, tokenIssuedAt: issued, tokenExpiresAt, retries: row.retries, retryLimit };
}
