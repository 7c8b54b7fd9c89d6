import { describe, expect, it } from 'vitest';
import { replyFor, retryAt, TOKEN_LEFT_TO_RETRY_MS } from '../../../relay/match/policy.js';
import { MATCH_RESULTS } from '../../../shared/match.js';

/** RELAY_AUTO_REPLY's table (DESIGN.md, "Auto-connect") and when a call without a verdict is made again. */

describe('replyFor', () => {
  it('follows the design: off sends nothing, connect only CRSUC for members, all CREU1–3 too, unknown never', () => {
    const table = Object.fromEntries(
      (['off', 'connect', 'all'] as const).map((policy) => [policy, MATCH_RESULTS.map((result) => replyFor(result, policy))]),
    );
    expect(table).toEqual({
      // member, not_found, name_mismatch, needs_verification, unknown
      off: [null, null, null, null, null],
      connect: ['CRSUC', null, null, null, null],
      all: ['CRSUC', 'CREU1', 'CREU2', 'CREU3', null],
    });
  });
});

describe('retryAt', () => {
  const now = Date.parse('2024-05-01T10:00:00Z');
  const expiresIn = (ms: number) => new Date(now + ms).toISOString();
  const delays = [5_000, 30_000];

  it('asks again after each delay in turn, at most as many times as there are delays', () => {
    expect(retryAt(1, expiresIn(10 * 60_000), now, delays)).toBe(now + 5_000);
    expect(retryAt(2, expiresIn(10 * 60_000), now, delays)).toBe(now + 30_000);
    expect(retryAt(3, expiresIn(10 * 60_000), now, delays)).toBeUndefined();
  });

  it('only while the token has more than two minutes left at the next call', () => {
    expect(retryAt(1, expiresIn(TOKEN_LEFT_TO_RETRY_MS + 5_001), now, delays)).toBe(now + 5_000);
    expect(retryAt(1, expiresIn(TOKEN_LEFT_TO_RETRY_MS + 5_000), now, delays)).toBeUndefined();
    expect(retryAt(1, expiresIn(-60_000), now, delays)).toBeUndefined();
    expect(retryAt(1, null, now, delays)).toBeUndefined();
  });
});
