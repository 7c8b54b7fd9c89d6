import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FailedKeys } from '../../../../relay/api/middleware/failed-keys.js';
import { TestClock } from '../../store/helpers.js';
import { ApiServer, AUTH, bearer, errorOf, expectNoSecrets, SETUP } from '../helpers.js';

/** Guessing keys is slowed; using a right one never is. Over real HTTP on 127.0.0.1, then the bookkeeping alone. */

describe('wrong API keys from one address', () => {
  let s: ApiServer;
  beforeEach(async () => {
    s = await new ApiServer().start();
  });
  afterEach(async () => {
    expectNoSecrets(s);
    await s.stop();
  });

  const guess = (n: number) => s.get('/api/v1/summary', bearer(`trl_guess-number-${n}-0123456789`));

  it('are answered 401 twenty times a minute, then 429 with Retry-After; valid keys from there still get through', async () => {
    const viewer = s.keyFor('viewer', 'Vera');
    for (let n = 1; n <= 20; n++) expect((await guess(n)).status, `guess ${n}`).toBe(401);
    const throttled = await guess(21);
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('60');
    expect(errorOf(throttled)).toEqual({
      code: 'too_many_attempts',
      message: 'too many wrong API keys from this address; try again in 60 s (a valid key is not slowed)',
    });

    // The same address, the right keys: not slowed at all.
    expect((await s.get('/api/v1/summary', viewer.auth)).status).toBe(200);
    expect((await s.get('/api/v1/summary', AUTH)).status).toBe(200);
    // A revoked key is a wrong key too; no key at all is not a guess (401, as ever).
    const gone = s.keyFor('viewer', 'Gone');
    s.store.keys.revoke(gone.key.id, SETUP);
    expect((await s.get('/api/v1/me', gone.auth)).status).toBe(429);
    expect((await s.get('/api/v1/summary', {})).status).toBe(401);

    s.clock.advance(45_000);
    expect((await guess(22)).headers.get('retry-after')).toBe('15');
    s.clock.advance(15_000);
    expect((await guess(23)).status).toBe(401);
    expect((await s.get('/api/v1/summary', viewer.auth)).status).toBe(200);

    const metrics = (await s.get('/metrics', {})).text;
    expect(metrics).toContain('triplink_auth_failures_total{reason="unknown"} 23');
    expect(metrics).toContain('triplink_auth_failures_total{reason="revoked"} 1');
    expect(metrics).toContain('triplink_auth_failures_total{reason="missing"} 1');
    expect(metrics).toContain('triplink_auth_throttled_total 3');
  });

  it('leave valid keys alone on the event stream too', async () => {
    for (let n = 1; n <= 21; n++) await guess(n);
    expect((await guess(99)).status).toBe(429);
    const abort = new AbortController();
    const stream = await fetch(`${s.url}/api/v1/events`, { headers: AUTH, signal: abort.signal });
    expect(stream.status).toBe(200);
    abort.abort();
  });
});

describe('the bookkeeping of wrong keys', () => {
  it('counts per address, forgets windows that have passed, and never holds more than its cap', () => {
    const clock = new TestClock();
    const failed = new FailedKeys({ limit: 2, windowMs: 10_000, maxAddresses: 3, now: clock.now });
    expect([failed.fail('a'), failed.fail('a'), failed.fail('a')]).toEqual([undefined, undefined, 10]);
    expect(failed.fail('b')).toBeUndefined();
    for (const address of ['c', 'd', 'e', 'f']) failed.fail(address);
    expect(failed.size).toBe(3);
    // "a" was the oldest and made room: counted from nothing again.
    expect(failed.fail('a')).toBeUndefined();
    expect(failed.size).toBe(3);

    clock.advance(10_000);
    failed.fail('g');
    expect(failed.size).toBe(1);
    for (let i = 0; i < 10_000; i++) failed.fail(`10.0.${i >> 8}.${i & 255}`);
    expect(failed.size).toBe(3);
  });
});
