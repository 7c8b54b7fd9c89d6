import { describe, expect, it } from 'vitest';
import { REFRESH_TOKEN_TTL_MS } from '../../../relay/sandbox/auth.js';
import { CR, LEGACY_TOKEN, type OverHttp, T0, grantsOf, httpSandbox, legacyExchange, passwordGrant, xml } from './helpers.js';

/**
 * Refreshing a traveller's tokens over real HTTP: OAuth 2.0 rotates the refresh token, the legacy
 * one lives forever and stays the same; the app's refresh token and a traveller's never stand in
 * for each other.
 */

const h = httpSandbox();
const USER_API = '/api/user/v1.0/User';
const HOUR = 3600_000;

const refresh = (refreshToken: string) => h().token({ grant_type: 'refresh_token', refresh_token: refreshToken });

function legacyRefresh(x: OverHttp, refreshToken: string, init?: RequestInit, extra: Record<string, string> = {}): Promise<Response> {
  const query = new URLSearchParams({ refresh_token: refreshToken, client_id: x.sb.clientId, client_secret: x.sb.clientSecret, ...extra });
  return x.fetch(`${LEGACY_TOKEN}?${query}`, init);
}

const bearer = (token: unknown) => ({ headers: { Authorization: `Bearer ${String(token)}` } });

describe('sandbox: refreshing an OAuth 2.0 traveller token', () => {
  it('answers a new access token and a new refresh token; the old refresh token stops working (rotation)', async () => {
    const { sb, clock, fetch, addRequest } = h();
    const request = await addRequest();
    const first = await passwordGrant(h(), request);
    clock.advance(30 * 60_000);
    const res = await refresh(String(first.refresh_token));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const second = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(second)).toEqual(Object.keys(first));
    expect(second).toMatchObject({ expires_in: 3600, token_type: 'Bearer', geolocation: sb.url });
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.access_token).not.toBe(first.access_token);
    expect(second.refresh_expires_in).toBe(Math.floor((T0 + 30 * 60_000 + REFRESH_TOKEN_TTL_MS) / 1000));

    const reuse = await refresh(String(first.refresh_token));
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toEqual({ error: 'invalid_grant', error_description: 'bad or expired refresh token', code: 108, geolocation: sb.url });
    expect((await refresh(String(second.refresh_token))).status).toBe(200);

    // The new token is the traveller's; the one it replaced still works until its own hour is up.
    expect((await fetch(USER_API, bearer(second.access_token))).status).toBe(200);
    expect((await fetch(USER_API, bearer(first.access_token))).status).toBe(200);
    clock.advance(30 * 60_000);
    expect((await fetch(USER_API, bearer(first.access_token))).status).toBe(403);
    expect((await fetch(USER_API, bearer(second.access_token))).status).toBe(200);

    expect(await grantsOf(h(), request.userId)).toEqual([
      expect.objectContaining({ form: 'oauth', refreshCount: 2, lastRefreshedAt: new Date(T0 + 30 * 60_000).toISOString(), revoked: false }),
    ]);
  });

  it('access tokens expire after one hour and refresh tokens after six months, on the sandbox clock', async () => {
    const { clock, fetch, addRequest } = h();
    const tokens = await passwordGrant(h(), await addRequest());
    clock.advance(HOUR - 1_000);
    expect((await fetch(USER_API, bearer(tokens.access_token))).status).toBe(200);
    clock.advance(1_000);
    expect((await fetch(USER_API, bearer(tokens.access_token))).status).toBe(403);
    clock.advance(REFRESH_TOKEN_TTL_MS - HOUR);
    const res = await refresh(String(tokens.refresh_token));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_grant', code: 108 });
  });

  it("keeps the app's refresh token and a traveller's apart: each gives its own kind of token, neither is the other", async () => {
    const { sb, fetch, addRequest } = h();
    const user = await passwordGrant(h(), await addRequest());
    const app = (await (await refresh(sb.refreshToken)).json()) as Record<string, unknown>;
    expect(app.scope).toBe('CONNECTIONREQUESTS');
    expect((await fetch(CR, bearer(app.access_token))).status).toBe(200);
    expect((await fetch(USER_API, bearer(app.access_token))).status).toBe(403);

    const traveller = (await (await refresh(String(user.refresh_token))).json()) as Record<string, unknown>;
    expect(traveller.scope).toBe('openid USER');
    expect((await fetch(USER_API, bearer(traveller.access_token))).status).toBe(200);
    expect((await fetch(CR, bearer(traveller.access_token))).status).toBe(403);

    // The app's refresh grant still rotates as before, and its spent token is no traveller's either.
    expect((await refresh(sb.refreshToken)).status).toBe(400);
    expect((await refresh(String(app.refresh_token))).status).toBe(200);
  });

  it("a legacy traveller's refresh token is no OAuth 2.0 refresh token (108), and an OAuth one is refused by the legacy endpoint", async () => {
    const x = h();
    const legacy = await legacyExchange(x, (await x.addRequest()).requestToken);
    const res = await refresh(legacy.Refresh_Token!);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 108 });
    const oauth = await passwordGrant(x, await x.addRequest());
    expect((await legacyRefresh(x, String(oauth.refresh_token))).status).toBe(400);
    // Neither refusal spent anything.
    expect((await legacyRefresh(x, legacy.Refresh_Token!)).status).toBe(200);
    expect((await refresh(String(oauth.refresh_token))).status).toBe(200);
  });
});

describe('sandbox: refreshing a legacy traveller token (getaccesstoken.ashx?refresh_token=)', () => {
  it('answers a new one-year token in XML, with the same refresh token, which lives forever', async () => {
    const x = h();
    const request = await x.addRequest();
    const first = await legacyExchange(x, request.requestToken);
    expect(first.Expiration_date).toBe('5/1/2025 12:00:00 PM');
    x.clock.advance(10 * 365 * 24 * HOUR);
    const res = await legacyRefresh(x, first.Refresh_Token!);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/xml; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = xml.parse(await res.text()) as { Access_Token: Record<string, string> };
    expect(Object.keys(body.Access_Token)).toEqual(['Instance_URL', 'Token', 'Expiration_Date', 'Refresh_Token']);
    expect(body.Access_Token.Instance_URL).toBe(`${x.sb.url}/`);
    expect(body.Access_Token.Token).toMatch(/^[A-Za-z0-9+/]{27}=$/);
    expect(body.Access_Token.Token).not.toBe(first.Token);
    expect(body.Access_Token.Refresh_Token).toBe(first.Refresh_Token);
    // 3650 days on is 2034-04-29 (two leap days in between); one year (365 days) from the refresh.
    expect(body.Access_Token.Expiration_Date).toBe('4/29/2035 12:00:00 PM');
    expect((await x.fetch(USER_API, { headers: { Authorization: `OAuth ${body.Access_Token.Token}` } })).status).toBe(200);
    // The first token's year is long over.
    expect((await x.fetch(USER_API, { headers: { Authorization: `OAuth ${first.Token}` } })).status).toBe(403);
    expect((await legacyRefresh(x, first.Refresh_Token!)).status).toBe(200);
    expect(await grantsOf(x, request.userId)).toEqual([
      expect.objectContaining({ form: 'legacy', refreshCount: 2, refreshTokenExpiresAt: null, refreshTokenExpired: false }),
    ]);
  });

  it('answers JSON when asked; the legacyRefreshToken quirk leaves Refresh_Token out as the old doc does', async () => {
    const x = h();
    const first = await legacyExchange(x, (await x.addRequest()).requestToken);
    const json = (await (await legacyRefresh(x, first.Refresh_Token!, { headers: { Accept: 'application/json' } })).json()) as {
      Access_Token: Record<string, string>;
    };
    expect(Object.keys(json.Access_Token)).toEqual(['Instance_Url', 'Token', 'Expiration_date', 'Refresh_Token']);
    await x.control('PUT', '/quirks', { legacyRefreshToken: 'omit' });
    const omitted = (await (await legacyRefresh(x, first.Refresh_Token!, { headers: { Accept: 'application/json' } })).json()) as {
      Access_Token: Record<string, string>;
    };
    expect(Object.keys(omitted.Access_Token)).toEqual(['Instance_Url', 'Token', 'Expiration_date']);
    expect(await (await legacyRefresh(x, first.Refresh_Token!)).text()).not.toContain('Refresh_Token');
  });

  it.each([
    ['an unknown refresh token', (_t: string) => ['3f0a7c52-1b0e-4c7e-9d55-5f3f0a7c521b', {}] as const, 400],
    ['an empty refresh token', (_t: string) => ['', {}] as const, 400],
    ['a wrong client secret', (t: string) => [t, { client_secret: 'wrong' }] as const, 401],
    ['code and refresh_token together', (t: string) => [t, { code: 'EPCYxQ1NRMTstK61XmbdZp7effas271' }] as const, 400],
  ])('refuses %s with a Concur Error body', async (_name, make, status) => {
    const x = h();
    const first = await legacyExchange(x, (await x.addRequest()).requestToken);
    const [token, extra] = make(first.Refresh_Token!);
    const res = await legacyRefresh(x, token, undefined, extra);
    expect(res.status).toBe(status);
    expect((xml.parse(await res.text()) as { Error: { Message: string } }).Error.Message.length).toBeGreaterThan(0);
    expect((await grantsOf(x))[0]).toMatchObject({ refreshCount: 0 });
  });
});
