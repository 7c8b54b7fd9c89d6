import type { ConcurRecord } from '../concur/record.js';
import { ConcurError } from '../concur/errors.js';
import { requestTokenSha256, type OutboxReply, type SeenAtConcur } from '../store/index.js';
import { groupOf, isUserErrorCode, RETRY_LIMITS, type ApiVersion, type ReplyCode, type StatusCode } from '../../shared/status.js';

/**
 * Replies in doubt, and what Concur's answers prove.
 *
 * A reply is in doubt when an attempt started and its outcome was never stored: the relay died
 * between Concur's 204 and writing `sent` (or before the PUT even left), the store could not
 * write the outcome, or the PUT ended in a way that may have reached Concur (a timeout, a cut
 * connection, a 5xx from behind a gateway). PUTting it again is not safe: Concur's answer to a
 * repeated reply is undocumented, and if it accepts it a CREU* e-mails the traveller twice and a
 * CRRET uses up one of five retries. So the outbox first reads the request back (GET by id) and
 * `judgeReadBack` decides whether Concur already shows the reply.
 */

/** What Concur's own status is after each reply code was applied (a GET may also show the code itself). */
const OUTCOME: Readonly<Record<Exclude<ReplyCode, 'CRRET'>, readonly StatusCode[]>> = {
  CRSUC: ['CRSUC', 'Connected'],
  CREU1: ['CREU1', 'Failed'],
  CREU2: ['CREU2', 'Failed'],
  CREU3: ['CREU3', 'Failed'],
  CRPA1: ['CRPA1', 'Failed'],
  CRPA2: ['CRPA2', 'Failed'],
};

export type Verdict =
  /** Concur shows the reply: record it as sent, send nothing. */
  | { kind: 'applied'; evidence: string }
  /** Concur shows it was not applied: PUT it, with `seen` as the evidence for that attempt. */
  | { kind: 'not_applied'; seen: SeenAtConcur }
  /** Concur's answer cannot tell (`why`): the reply is PUT again rather than risk dropping it. */
  | { kind: 'unknown'; seen: SeenAtConcur; why: string };

/** Whether `record`, read back from Concur under API `version`, shows that `reply` was applied. */
export function judgeReadBack(reply: OutboxReply, record: ConcurRecord, version: ApiVersion = '3.0'): Verdict {
  const seen: SeenAtConcur = { requestToken: record.requestToken, lastModified: record.lastModified };
  if (reply.status !== 'CRRET') {
    if (OUTCOME[reply.status].includes(record.status)) return { kind: 'applied', evidence: `Concur shows ${record.status}` };
    // A version that requeues after a CREU* (3.2: RETRY_LIMITS) shows it the way it shows a CRRET, below.
    if (!isUserErrorCode(reply.status) || RETRY_LIMITS[version].CREU === null) return { kind: 'not_applied', seen };
  }
  // A CRRET (and under 3.2 a CREU*) leaves the request pending with a new request token (or, past
  // the version's limit, Failed), and a new LastModified; it never connects it.
  if (groupOf(record.status) === 'connected') return { kind: 'not_applied', seen };
  const before = reply.inDoubt;
  const tokenComparable = before?.tokenSha256 != null && record.requestToken !== null;
  if (tokenComparable && requestTokenSha256(record.requestToken!) !== before!.tokenSha256) {
    return { kind: 'applied', evidence: 'Concur shows a new request token' };
  }
  const lastModifiedComparable = before?.lastModified != null && record.lastModified !== null;
  if (lastModifiedComparable && Date.parse(record.lastModified!) > Date.parse(before!.lastModified!)) {
    return { kind: 'applied', evidence: `Concur changed the request since the attempt started (${record.status})` };
  }
  // The same token: Concur issued none since the attempt started.
  if (tokenComparable) return { kind: 'not_applied', seen };
  return {
    kind: 'unknown',
    seen,
    why: lastModifiedComparable
      ? 'Concur shows no request token and the same LastModified (to the second) as when the attempt started'
      : 'Concur shows no request token and no LastModified to compare with the attempt',
  };
}

/**
 * Whether a failed PUT may nonetheless have reached Concur and been applied. Only answers that
 * come before Concur processes anything prove it was not: 429, 503 (maintenance), a refused
 * token, a connection that was never made. Everything else leaves the reply in doubt.
 */
export function leavesDoubt(error: unknown): boolean {
  if (!(error instanceof ConcurError)) return true;
  switch (error.kind) {
    case 'unauthorized':
    case 'rate_limited':
      return false;
    case 'unavailable':
      // 503: maintenance; 400: a database deadlock, its transaction rolled back (concur/temporary.ts).
      if (error.status === 503 || error.status === 400) return false;
      return error.status !== undefined || !neverConnected(error);
    case 'concur_error':
      // 408: the server gave up waiting for the request, so it never had all of it.
      return error.status !== 408;
    case 'timeout':
    case 'bad_response':
    case 'not_found':
      return true;
  }
}

const BEFORE_CONNECTING = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

function neverConnected(error: ConcurError): boolean {
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && BEFORE_CONNECTING.has(code);
}

/**
 * Concur's final answers: 404, and the 4xx it will give again however often it is asked (400 for
 * a request that is already Connected or Failed, a body it refuses…). 401/403 and 429 are other
 * kinds; 408 and 425 are worth another try; a 200 carrying an <Error> ("please retry later") too.
 */
export function isFinal(error: unknown): error is ConcurError {
  if (!(error instanceof ConcurError)) return false;
  if (error.kind === 'not_found') return true;
  if (error.kind !== 'concur_error' || error.status === undefined) return false;
  return error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 425;
}

/** "Concur answered 404: Connection request … was not found." — Concur's own words where it gave some. */
export function finalMessage(error: ConcurError): string {
  const status = error.status ?? 'with an error';
  const said = error.concurMessage?.trim() ? error.concurMessage.trim() : error.message;
  return `Concur answered ${status}: ${said}`;
}
