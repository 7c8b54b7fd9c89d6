import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, MAX_RETRY_AFTER_MS } from '../../../relay/workers/backoff.js';

const at = (value: number) => () => value;

describe('backoffDelay', () => {
  it('doubles the ceiling with every attempt and draws from its upper half (equal jitter)', () => {
    const base = { baseMs: 1000, maxMs: 60_000 };
    expect([1, 2, 3, 4].map((attempt) => backoffDelay({ ...base, attempt, random: at(0) }))).toEqual([500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4].map((attempt) => backoffDelay({ ...base, attempt, random: at(0.5) }))).toEqual([750, 1500, 3000, 6000]);
    expect([1, 2, 3, 4].map((attempt) => backoffDelay({ ...base, attempt, random: at(0.999_999) }))).toEqual([
      1000, 2000, 4000, 8000,
    ]);
  });

  it('is deterministic with an injected random source', () => {
    const seq = [0.1, 0.9, 0.3];
    const run = () => {
      let i = 0;
      const random = () => seq[i++ % seq.length]!;
      return [1, 2, 3].map((attempt) => backoffDelay({ attempt, baseMs: 100, maxMs: 10_000, random }));
    };
    expect(run()).toEqual(run());
    expect(run()).toEqual([55, 190, 260]);
  });

  it('never goes above maxMs, however many attempts (no overflow either)', () => {
    for (const attempt of [10, 50, 1100, 10_000, Number.MAX_SAFE_INTEGER]) {
      const delay = backoffDelay({ attempt, baseMs: 1000, maxMs: 300_000, random: at(0.999) });
      expect(delay).toBeLessThanOrEqual(300_000);
      expect(delay).toBeGreaterThanOrEqual(150_000);
    }
    // A base above the maximum is cut to it.
    expect(backoffDelay({ attempt: 1, baseMs: 10_000, maxMs: 4000, random: at(1) })).toBe(4000);
  });

  it('treats attempts below 1 (and non-numbers) as the first', () => {
    const first = backoffDelay({ attempt: 1, baseMs: 1000, maxMs: 60_000, random: at(0.5) });
    for (const attempt of [0, -3, Number.NaN, 0.4]) {
      expect(backoffDelay({ attempt, baseMs: 1000, maxMs: 60_000, random: at(0.5) })).toBe(first);
    }
  });

  it('is never shorter than Retry-After, even above maxMs', () => {
    expect(backoffDelay({ attempt: 1, baseMs: 1000, maxMs: 60_000, retryAfterSeconds: 30, random: at(0.5) })).toBe(30_000);
    expect(backoffDelay({ attempt: 1, baseMs: 1000, maxMs: 60_000, retryAfterSeconds: 120, random: at(0.5) })).toBe(120_000);
    // When the backoff is already longer, Retry-After changes nothing.
    expect(backoffDelay({ attempt: 8, baseMs: 1000, maxMs: 600_000, retryAfterSeconds: 2, random: at(0) })).toBe(64_000);
    // Retry-After: 0 (as Concur's v4 APIs send) and nonsense are ignored.
    for (const retryAfterSeconds of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(backoffDelay({ attempt: 1, baseMs: 1000, maxMs: 60_000, retryAfterSeconds, random: at(0) })).toBe(500);
    }
  });

  it('trusts a Retry-After only up to five minutes (Concur says to wait 5 minutes on 503)', () => {
    expect(MAX_RETRY_AFTER_MS).toBe(300_000);
    expect(backoffDelay({ attempt: 1, baseMs: 1000, maxMs: 60_000, retryAfterSeconds: 86_400 * 30, random: at(0) })).toBe(
      MAX_RETRY_AFTER_MS,
    );
    // The header a hostile Concur sent (about three years): still five minutes.
    expect(backoffDelay({ attempt: 1, baseMs: 1000, maxMs: 60_000, retryAfterSeconds: 99_999_999, random: at(0) })).toBe(300_000);
  });

  it('survives a broken random source', () => {
    for (const value of [Number.NaN, -1, 7]) {
      const delay = backoffDelay({ attempt: 3, baseMs: 1000, maxMs: 60_000, random: at(value) });
      expect(delay).toBeGreaterThanOrEqual(2000);
      expect(delay).toBeLessThanOrEqual(4000);
    }
  });

  it('refuses a base or maximum that is not a finite number ≥ 0', () => {
    expect(() => backoffDelay({ attempt: 1, baseMs: -1, maxMs: 1000 })).toThrow(RangeError);
    expect(() => backoffDelay({ attempt: 1, baseMs: 1, maxMs: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(() => backoffDelay({ attempt: 1, baseMs: Number.NaN, maxMs: 1000 })).toThrow(RangeError);
  });

  it('property: within [ceiling/2, ceiling], ceiling = min(max, base·2^(n−1)), and ≥ Retry-After (capped at 5 min)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 3_600_000 }),
        fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        (attempt, baseMs, maxMs, retryAfterSeconds, r) => {
          const delay = backoffDelay({ attempt, baseMs, maxMs, retryAfterSeconds, random: () => r });
          const ceiling = Math.min(maxMs, Math.min(baseMs, maxMs) * 2 ** (attempt - 1));
          expect(Number.isInteger(delay)).toBe(true);
          if (retryAfterSeconds === undefined) {
            expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
            expect(delay).toBeLessThanOrEqual(Math.ceil(ceiling));
            expect(delay).toBeLessThanOrEqual(maxMs);
          } else {
            expect(delay).toBeGreaterThanOrEqual(Math.min(retryAfterSeconds * 1000, MAX_RETRY_AFTER_MS));
            expect(delay).toBeLessThanOrEqual(Math.max(maxMs, Math.min(retryAfterSeconds * 1000, MAX_RETRY_AFTER_MS)));
          }
        },
      ),
    );
  });
});
