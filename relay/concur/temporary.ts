import { ConcurError, type ConcurErrorDetails } from './errors.js';

/**
 * The two 400s Concur's HTTP status-code page lists as passing: "The number of requests received
 * exceed the request limit" and "The request encountered a database deadlock. In this case, the
 * developer should resend the request a short time later." Every other 400 is final (the request
 * is already Connected or Failed, a body Concur refuses…) and must not be sent again.
 *
 * The page gives the conditions, not the words of Concur's `<Error><Message>`, so they are told
 * apart by what such a message must name: the request limit, or a deadlock. They become the kinds
 * the relay already retries with backoff: a request limit is rate limiting; a deadlock is Concur
 * unable to work for a moment, the transaction rolled back (so not applied: readback.ts).
 */

const REQUEST_LIMIT = /\brequest(s)?\b[^.]*\blimit\b|\brate limit\b|too many requests/i;
const DEADLOCK = /\bdead-?lock/i;

/** A ConcurError for a temporary 400, or undefined when the 400 is final. */
export function temporary400(message: string | undefined, details: ConcurErrorDetails): ConcurError | undefined {
  if (message === undefined) return undefined;
  if (DEADLOCK.test(message)) {
    return new ConcurError('unavailable', `Concur hit a database deadlock and asks to resend a short time later (400): ${message}`, details);
  }
  if (REQUEST_LIMIT.test(message)) {
    return new ConcurError('rate_limited', `Concur received more requests than its limit (400): ${message}`, details);
  }
  return undefined;
}
