/**
 * When a failed webhook attempt is tried again: the Svix schedule after the first attempt (5 s,
 * 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each ±20 %), and a 429 or 503 with Retry-After waits what
 * it asks within [the step, 2 × the step]: never sooner than the schedule, never parked for longer.
 */

/** The Svix retry schedule: the waits after the 1st, 2nd, … failed attempt of a chain. */
export const RETRY_SCHEDULE_MS: readonly number[] = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];
const JITTER = 0.2;

/** The wait after the `chainAttempt`-th failed attempt (1-based), with jitter; null when the schedule is exhausted. */
export function scheduledDelay(chainAttempt: number, random: () => number = Math.random): number | null {
  const base = RETRY_SCHEDULE_MS[chainAttempt - 1];
  if (base === undefined) return null;
  const r = Math.min(1, Math.max(0, Number.isNaN(random()) ? 0.5 : random()));
  return Math.round(base * (1 + JITTER * (2 * r - 1)));
}

/** Retry-After (delta-seconds or an HTTP-date) in ms from `now`; undefined when absent, unreadable or not in the future. */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d{1,10}$/.test(text)) {
    const ms = Number(text) * 1000;
    return ms > 0 ? ms : undefined;
  }
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return at - now > 0 ? at - now : undefined;
}

/**
 * The wait before the next attempt after a failure, or null when the chain is over: the scheduled
 * step, or for a 429/503 with Retry-After that value clamped to [step, 2 × step].
 */
export function nextDelay(
  chainAttempt: number,
  status: number | null,
  retryAfter: number | undefined,
  random: () => number = Math.random,
): number | null {
  const step = scheduledDelay(chainAttempt, random);
  if (step === null) return null;
  if ((status === 429 || status === 503) && retryAfter !== undefined) return Math.min(2 * step, Math.max(step, retryAfter));
  return step;
}
