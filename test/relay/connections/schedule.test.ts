import { describe, expect, it } from 'vitest';
import { AT_LEAST_EVERY_MS, MIN_WAIT_MS, nextRefreshAt } from '../../../relay/connections/schedule.js';
import { Slots } from '../../../relay/connections/slots.js';

/** When the next refresh is due, and how refreshes made at the same moment are spread. */

const NOW = Date.parse('2024-05-01T00:00:00.000Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const at = (ms: number) => new Date(ms).toISOString();
const oauth = (lifetimeMs: number, refreshMs: number | null = 180 * 24 * HOUR) => ({
  accessTokenExpiresAt: at(NOW + lifetimeMs),
  refreshTokenExpiresAt: refreshMs === null ? null : at(NOW + refreshMs),
});
/** The earliest (random 1) and latest (random 0) a refresh may be drawn, in minutes from now. */
const window = (tokens: ReturnType<typeof oauth>) => [nextRefreshAt(tokens, NOW, () => 1), nextRefreshAt(tokens, NOW, () => 0)].map((t) => (t - NOW) / MINUTE);

describe('the next refresh', () => {
  it('comes 10 minutes before an hour-long token expires at the latest, and no earlier than 40 minutes', () => {
    expect(window(oauth(HOUR))).toEqual([40, 50]);
  });

  it('keeps a tenth of a longer lifetime as the margin, and never waits more than a day', () => {
    expect(window(oauth(10 * HOUR))).toEqual([0.8 * 9 * 60, 9 * 60]);
    // A legacy token lives a year and its refresh token forever: once a day.
    expect(window(oauth(365 * 24 * HOUR, null))).toEqual([0.8 * AT_LEAST_EVERY_MS / MINUTE, AT_LEAST_EVERY_MS / MINUTE]);
  });

  it('comes before the refresh token lapses too, by the same margin', () => {
    // Three hours left: a tenth (18 minutes) is more than 10.
    expect(window(oauth(365 * 24 * HOUR, 3 * HOUR))).toEqual([0.8 * 162, 162]);
  });

  it('refreshes a short-lived token half-way, and never sooner than a minute away', () => {
    expect(window(oauth(8 * MINUTE))).toEqual([3.2, 4]);
    expect(window(oauth(20 * MINUTE))).toEqual([8, 10]);
    expect(MIN_WAIT_MS).toBe(MINUTE);
    expect(window(oauth(3 * MINUTE))).toEqual([1.2, 1.5]);
    for (const lifetime of [2 * MINUTE, MINUTE, 0, -HOUR]) expect(window(oauth(lifetime))).toEqual([1, 1]);
    expect(window({ accessTokenExpiresAt: 'not a time', refreshTokenExpiresAt: null })).toEqual([1, 1]);
  });

  it('spreads 10,000 connections made in the same second over the last fifth of the wait', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const minutes = new Map<number, number>();
    for (let i = 0; i < 10_000; i++) {
      const minute = Math.floor((nextRefreshAt(oauth(HOUR), NOW, random) - NOW) / MINUTE);
      minutes.set(minute, (minutes.get(minute) ?? 0) + 1);
    }
    expect([...minutes.keys()].sort((a, b) => a - b)).toEqual([40, 41, 42, 43, 44, 45, 46, 47, 48, 49]);
    // About a thousand a minute, none a crowd.
    for (const count of minutes.values()) expect(count).toBeLessThan(1300);
  });
});

describe('the slots', () => {
  it('lets `size` in at once, serves the urgent first, and gives a slot back once', async () => {
    const slots = new Slots(2);
    const a = await slots.acquire(false);
    const b = await slots.acquire(false);
    expect(slots.busy).toBe(2);
    const order: string[] = [];
    const normal = slots.acquire(false).then((release) => (order.push('normal'), release));
    const urgent = slots.acquire(true).then((release) => (order.push('urgent'), release));
    a();
    a();
    await urgent;
    expect(order).toEqual(['urgent']);
    expect(slots.busy).toBe(2);
    b();
    (await normal)();
    expect(order).toEqual(['urgent', 'normal']);
    (await urgent)();
    expect(slots.busy).toBe(0);
  });
});
