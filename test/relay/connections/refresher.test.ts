import { describe, expect, it } from 'vitest';
import { Connection } from '../../../shared/connections.js';
import { ExchangeClient } from '../../../relay/concur/exchange.js';
import { createRefresher } from '../../../relay/connections/refresher.js';
import { waitFor } from '../helpers.js';
import { connectionsWorld, DAY, HOUR, MINUTE, type Made } from './helpers.js';

/**
 * The refresh worker against the sandbox over real HTTP, time moved on the sandbox's clock:
 * before expiry and at least daily, the rotated refresh token stored (the old one refused at the
 * sandbox), a final refusal breaking the connection (webhook connection.broken), a 503 waited out,
 * and never more refreshes at Concur at once than allowed.
 */

const w = connectionsWorld({ refresher: { concurrency: 3 } });

/** A traveller's refresh grant straight at the sandbox, as anyone holding the token could try it. */
async function refreshAtSandbox(refreshToken: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const { sb } = w();
  const res = await fetch(`${sb.url}/oauth2/v0/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: sb.clientId, client_secret: sb.clientSecret }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const nextOf = (id: string): number => {
  const due = w().api.store.connections.nextRefreshAt();
  expect(w().api.store.connections.get(id)?.state).toBe('active');
  return Date.parse(due!);
};

describe('refreshing before the access token expires', () => {
  it('refreshes an OAuth 2.0 connection within its last 10 minutes, stores the rotated refresh token, and the old one is spent at Concur', async () => {
    const { api, refresher } = w();
    const { connection, userId, tokens } = await w().connect('password');
    const expires = Date.parse(connection.accessTokenExpiresAt);
    expect(expires).toBe(w().now() + HOUR);
    // Due 10 minutes before expiry at the latest, drawn from the last fifth of the wait (0.5: the middle).
    expect(nextOf(connection.id)).toBe(w().now() + 45 * MINUTE);

    await w().advance(44 * MINUTE);
    await refresher.drain();
    expect(await w().refreshCalls()).toHaveLength(0);

    await w().advance(MINUTE);
    await refresher.drain();
    expect(await w().refreshCalls()).toHaveLength(1);
    const now = w().now();
    const after = Connection.parse(api.store.connections.get(connection.id));
    expect(after).toMatchObject({ state: 'active', lastRefreshedAt: new Date(now).toISOString(), lastError: null });
    expect(Date.parse(after.accessTokenExpiresAt)).toBe(now + HOUR);
    const held = api.store.connections.tokens(connection.id)!;
    expect(held.refreshToken).not.toBe(tokens.refreshToken);
    expect(held.geolocation).toBe(w().sb.url);

    // The sandbox rotated it: the relay's old refresh token is refused, the grant counts one refresh.
    const grant = await w().grant(userId);
    expect(grant).toMatchObject({ form: 'oauth', refreshCount: 1, lastRefreshedAt: new Date(now).toISOString(), revoked: false });
    expect(Date.parse(String(grant.accessTokenExpiresAt))).toBe(now + HOUR);
    expect(await refreshAtSandbox(tokens.refreshToken)).toMatchObject({ status: 400, body: { error: 'invalid_grant', code: 108 } });

    // …and the next refresh is again before the new token's last 10 minutes.
    expect(nextOf(connection.id)).toBe(now + 45 * MINUTE);
    // The relay's refresh, and the test's own try with the spent token.
    expect((await w().refreshCalls()).map((call) => call.status)).toEqual([200, 400]);
  });

  it('keeps refreshing: a connection lives on for days, one refresh per token lifetime', async () => {
    const { api, refresher } = w();
    const { connection, userId } = await w().connect('password');
    for (let i = 0; i < 30; i++) {
      await w().advance(45 * MINUTE);
      await refresher.drain();
    }
    expect(await w().refreshCalls()).toHaveLength(30);
    expect(await w().grant(userId)).toMatchObject({ refreshCount: 30, accessTokenExpired: false, refreshTokenExpired: false, revoked: false });
    expect(api.store.connections.get(connection.id)).toMatchObject({ state: 'active', lastError: null });
  });
});

describe('refreshing at least once a day', () => {
  it('refreshes a legacy connection (its access token lives a year) within a day; its refresh token stays the same and keeps working', async () => {
    const { api, refresher } = w();
    const { connection, userId, tokens } = await w().connect('legacy');
    expect(Date.parse(connection.accessTokenExpiresAt) - w().now()).toBeGreaterThan(300 * DAY);
    const first = nextOf(connection.id);
    expect(first - w().now()).toBeLessThanOrEqual(DAY);
    expect(first - w().now()).toBeGreaterThanOrEqual(0.8 * DAY);

    await w().advance(first - w().now() - MINUTE);
    await refresher.drain();
    expect(await w().refreshCalls()).toHaveLength(0);
    await w().advance(MINUTE);
    await refresher.drain();
    expect(await w().refreshCalls()).toHaveLength(1);

    expect(await w().grant(userId)).toMatchObject({ form: 'legacy', refreshCount: 1, refreshTokenExpiresAt: null, revoked: false });
    expect(api.store.connections.tokens(connection.id)!.refreshToken).toBe(tokens.refreshToken);
    expect(api.store.connections.get(connection.id)).toMatchObject({ state: 'active', lastRefreshedAt: new Date(w().now()).toISOString() });
    // A day later, again.
    const second = nextOf(connection.id);
    expect(second - w().now()).toBeLessThanOrEqual(DAY);
    await w().advance(DAY);
    await refresher.drain();
    expect(await w().grant(userId)).toMatchObject({ refreshCount: 2, revoked: false });
  });
});

describe('a refresh Concur refuses for good', () => {
  it.each([
    ['the grant was revoked at Concur behind the relay\'s back', 'revoked'],
    ['the refresh token expired while the relay was stopped (six months)', 'expired'],
  ] as const)('makes the connection refresh_failed and sends connection.broken: %s', async (_name, cause) => {
    const { api, refresher, webhooks } = w();
    await w().subscribe(['connection.broken', 'connection.revoked']);
    const { connection, tokens, userId } = await w().connect('password');
    if (cause === 'revoked') {
      const res = await fetch(`${w().sb.url}/app-mgmt/v0/connections`, { method: 'DELETE', headers: { Authorization: `Bearer ${tokens.accessToken}` } });
      expect(res.status).toBe(200);
      await w().advance(45 * MINUTE);
    } else {
      await w().advance(181 * DAY);
      expect(await w().grant(userId)).toMatchObject({ refreshTokenExpired: true, revoked: false });
    }
    const before = api.store.events.latestId();
    await refresher.drain();

    const broken = Connection.parse(api.store.connections.get(connection.id));
    expect(broken.state).toBe('refresh_failed');
    expect(broken.lastError).toMatch(/code 108/);
    expect(api.store.events.after(before, 10).map((event) => [event.type, (event.data as Connection).state])).toEqual([['connection.updated', 'refresh_failed']]);
    // Nothing is refreshed again, however long the worker runs.
    expect(api.store.connections.nextRefreshAt()).toBeNull();
    await w().advance(2 * DAY);
    await refresher.drain();
    expect(await w().refreshCalls()).toHaveLength(1);

    await webhooks.drain();
    expect(w().received()).toEqual([{ type: 'connection.broken', timestamp: expect.any(String), data: broken }]);
    expect(w().log.lines().filter((line) => line.msg === 'Concur refused to refresh a connection for good; it is refresh_failed now')).toHaveLength(1);
  });
});

describe('a refresh that fails for now', () => {
  it('backs off from a 503 (honouring Retry-After) without changing the state, then succeeds', async () => {
    const { api, refresher } = w();
    const { connection, userId } = await w().connect('password');
    await fetch(`${w().sb.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ route: 'refresh', kind: 'status503', times: 1, retryAfterSeconds: 300 }),
    });
    await w().advance(45 * MINUTE);
    const before = api.store.events.latestId();
    await refresher.drain();

    const waiting = Connection.parse(api.store.connections.get(connection.id));
    expect(waiting).toMatchObject({ state: 'active', lastRefreshedAt: null, lastError: 'refresh: Concur answered 503' });
    expect(api.store.events.after(before, 10)).toEqual([]);
    const retryAt = Date.parse(api.store.connections.nextRefreshAt()!);
    expect(retryAt - w().now()).toBeGreaterThanOrEqual(300_000);
    // Not before then, even when the worker looks again.
    await w().advance(retryAt - w().now() - 1000);
    await refresher.drain();
    expect((await w().refreshCalls()).map((call) => call.status)).toEqual([503]);

    await w().advance(1000);
    await refresher.drain();
    expect((await w().refreshCalls()).map((call) => call.status)).toEqual([503, 200]);
    expect(api.store.connections.get(connection.id)).toMatchObject({ state: 'active', lastError: null, lastRefreshedAt: new Date(w().now()).toISOString() });
    expect(await w().grant(userId)).toMatchObject({ refreshCount: 1, revoked: false });
  });

  it("backs off when Concur refuses the partner's credentials, and never breaks the connection for it", async () => {
    const { api, refresher } = w();
    const { connection } = await w().connect('password');
    const wrong = api.store.connections.tokens(connection.id)!;
    // The relay's credentials stop working: a refresher with another secret (as after a bad deploy).
    const bad = new ExchangeClient({ form: 'password', baseUrl: w().sb.url, tokenUrl: `${w().sb.url}/oauth2/v0/token`, clientId: w().sb.clientId, clientSecret: 'not-the-secret', now: w().now });
    const worker = createRefresher({ exchange: bad, store: api.store, logger: w().log.logger, now: w().now, random: () => 0.5 });
    await w().advance(45 * MINUTE);
    await worker.drain();
    await worker.stop();
    expect(api.store.connections.get(connection.id)).toMatchObject({ state: 'active', lastError: expect.stringMatching(/code 5\b/) });
    expect(Date.parse(api.store.connections.nextRefreshAt()!)).toBeGreaterThan(w().now());
    expect(api.store.connections.tokens(connection.id)!.refreshToken).toBe(wrong.refreshToken);
    // With the right credentials again, the next try goes through.
    await w().advance(HOUR);
    await refresher.drain();
    expect(api.store.connections.get(connection.id)).toMatchObject({ state: 'active', lastError: null });
  });
});

describe('how many at once', () => {
  it('never has more than `concurrency` refreshes at the sandbox at once, and refreshes them all', async () => {
    const { api, refresher, sb } = w();
    const made: Made[] = [];
    for (let i = 0; i < 10; i++) made.push(await w().connect(i % 2 === 0 ? 'password' : 'legacy'));
    // Make all of them due now, as after a relay was stopped for a day.
    await w().advance(DAY);
    await fetch(`${sb.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ route: 'refresh', kind: 'latency', latencyMs: 150 }),
    });
    let most = 0;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const open = (await w().refreshCalls()).filter((call) => call.status === null).length;
        most = Math.max(most, open);
      }
    })();
    await refresher.drain();
    watching = false;
    await watch;
    expect(most).toBe(3);
    const calls = await w().refreshCalls();
    expect(calls).toHaveLength(10);
    expect(calls.every((call) => call.status === 200)).toBe(true);
    for (const { connection } of made) expect(api.store.connections.get(connection.id)?.lastRefreshedAt).toBe(new Date(w().now()).toISOString());
  });

  it('never refreshes one connection twice at once: a token read while the worker refreshes it joins that refresh', async () => {
    const { api, refresher, sb } = w();
    const { connection, userId } = await w().connect('password');
    const broker = api.keyFor('broker');
    await w().advance(57 * MINUTE);
    await fetch(`${sb.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ route: 'refresh', kind: 'latency', latencyMs: 200, times: 1 }),
    });
    refresher.start();
    await waitFor(async () => (await w().refreshCalls()).length === 1, 5000, 'the worker to start its refresh');
    const read = await api.post(`/api/v1/connections/${connection.id}/token`, undefined, broker.auth);
    expect(read.status).toBe(200);
    expect(await w().refreshCalls()).toHaveLength(1);
    expect(await w().grant(userId)).toMatchObject({ refreshCount: 1 });
    expect(api.store.connections.get(connection.id)?.state).toBe('active');
  });
});

describe('a legacy refresh answer without its Refresh_Token', () => {
  it('keeps the refresh token the relay holds (legacy refresh tokens never change), and the connection stays fresh', async () => {
    const { api, refresher, sb } = w();
    const { connection, userId, tokens } = await w().connect('legacy');
    // The pre-2017 table of the refresh answer has no Refresh_Token (the sandbox's `omit` quirk).
    const quirk = await fetch(`${sb.url}/_sandbox/quirks`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ legacyRefreshToken: 'omit' }) });
    expect(quirk.status).toBe(200);
    for (let day = 1; day <= 2; day++) {
      await w().advance(DAY);
      await refresher.drain();
      expect(await w().grant(userId)).toMatchObject({ refreshCount: day, revoked: false });
      expect(api.store.connections.get(connection.id)).toMatchObject({ state: 'active', lastError: null });
      expect(api.store.connections.tokens(connection.id)!.refreshToken).toBe(tokens.refreshToken);
    }
  });
});
