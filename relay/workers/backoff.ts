/**
 * How long to wait before trying Concur again, shared by the poller and the reply outbox.
 *
 * Exponential with "equal jitter": the ceiling doubles with every attempt (baseMs, 2·baseMs,
 * 4·baseMs … up to maxMs) and the delay is drawn uniformly from the upper half of it,
 * [ceiling/2, ceiling]. Equal rather than full jitter ([0, ceiling]) because the relay is one client
 * talking to a Concur that is already struggling (503, 429, timeouts): full jitter spreads a crowd of
 * clients best, but it can also draw a delay of almost nothing, and a retry a few milliseconds after
 * a 503 is exactly the hammering backing off is meant to prevent. Equal jitter still spreads
 * retries (the outbox's concurrent replies, several relays behind one Concur account) while every
 * wait keeps growing. It also makes "next try at …" in the summary a meaningful promise.
 *
 * Concur's Retry-After is a floor: the delay is never shorter than what Concur asked for. A
 * Retry-After is trusted only up to MAX_RETRY_AFTER_MS (five minutes), so one broken or hostile
 * header (`Retry-After: 99999999`) cannot stop polling or replies for long; that floor may exceed
 * maxMs, which only bounds the relay's own schedule.
 */

/**
 * The longest Retry-After the relay honours: five minutes, the longest wait Concur itself asks
 * for (its HTTP status code guide: on 503 "sleep for 5 minutes then retry"; on a timeout, wait 5
 * minutes). A Concur that really needs longer answers 429/503 again and the backoff keeps growing.
 */
export const MAX_RETRY_AFTER_MS = 5 * 60 * 1000;

export interface BackoffInput {
  /** Which retry this is: 1 for the first retry after one failure, 2 after two in a row… Values below 1 count as 1. */
  attempt: number;
  /** The ceiling for attempt 1, in ms. */
  baseMs: number;
  /** The ceiling never grows beyond this (ms); the result is at most this unless Retry-After says more. */
  maxMs: number;
  /** Seconds Concur asked the relay to wait, if it said. */
  retryAfterSeconds?: number;
  /** A source of numbers in [0, 1) (default Math.random); inject one for deterministic delays. */
  random?: () => number;
}

/**
 * The delay in whole milliseconds (≥ 0). Pure apart from `random`. Throws RangeError when baseMs or
 * maxMs is not a finite number ≥ 0 (a programming or configuration error, not a runtime condition).
 */
export function backoffDelay({ attempt, baseMs, maxMs, retryAfterSeconds, random = Math.random }: BackoffInput): number {
  const max = checked('maxMs', maxMs);
  const base = Math.min(checked('baseMs', baseMs), max);
  const n = Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : 1;
  // 2 ** 1100 is Infinity, which Math.min turns back into max: no overflow to worry about.
  const ceiling = Math.min(max, base * 2 ** (n - 1));
  const r = unit(random());
  const jittered = Math.round(ceiling / 2 + r * (ceiling / 2));
  const delay = Math.min(max, jittered);

  if (retryAfterSeconds === undefined || !Number.isFinite(retryAfterSeconds) || retryAfterSeconds <= 0) return delay;
  const floor = Math.min(MAX_RETRY_AFTER_MS, Math.ceil(retryAfterSeconds * 1000));
  return Math.max(delay, floor);
}

function checked(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number ≥ 0, not ${value}`);
  return value;
}

/** Clamps a random draw into [0, 1]; a broken source (NaN) counts as 0.5. */
function unit(value: number): number {
  if (Number.isNaN(value)) return 0.5;
  return Math.min(1, Math.max(0, value));
}
