import { describe, expect, it } from 'vitest';
import { type OverHttp, T0, grantsOf, httpSandbox, legacyExchange, passwordGrant, xml } from './helpers.js';

/**
 * Ending a traveller's tokens over real HTTP: the legacy revoketoken.ashx (the app, as Web Services
 * Administrator) and app-mgmt's DELETE /connections (the traveller's own Bearer token).
 */

const h = httpSandbox();
const USER_API = '/api/user/v1.0/User';
const REVOKE = '/net2/oauth2/revoketoken.ashx';
const CONNECTIONS = '/app-mgmt/v0/connections';

function revoke(x: OverHttp, query: Record<string, string>, authorization = `OAuth ${x.sb.accessToken}`): Promise<Response> {
  return x.fetch(`${REVOKE}?${new URLSearchParams(query)}`, { method: 'POST', headers: { Authorization: authorization } });
}

const legacyRefresh = (x: OverHttp, refreshToken: string) =>
  x.fetch(`/net2/oauth2/getaccesstoken.ashx?${new URLSearchParams({ refresh_token: refreshToken, client_id: x.sb.clientId, client_secret: x.sb.clientSecret })}`);

const errorMessage = async (res: Response) => (xml.parse(await res.text()) as { Error: { Message: string } }).Error.Message;

describe('sandbox: POST /net2/oauth2/revoketoken.ashx', () => {
  it("?token= revokes that legacy grant: 200 with no body, its access and refresh tokens stop, others' go on", async () => {
    const x = h();
    const a = await x.addRequest();
    const b = await x.addRequest();
    const ta = await legacyExchange(x, a.requestToken);
    const tb = await legacyExchange(x, b.requestToken);
    x.clock.advance(60_000);
    const res = await revoke(x, { token: ta.Token! });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    expect((await x.fetch(USER_API, { headers: { Authorization: `OAuth ${ta.Token}` } })).status).toBe(403);
    expect((await legacyRefresh(x, ta.Refresh_Token!)).status).toBe(400);
    expect((await x.fetch(USER_API, { headers: { Authorization: `OAuth ${tb.Token}` } })).status).toBe(200);
    expect(await grantsOf(x, a.userId)).toEqual([
      expect.objectContaining({ revoked: true, revokedAt: new Date(T0 + 60_000).toISOString(), revokedBy: 'revoketoken', liveAccessTokens: 0 }),
    ]);
    expect(await grantsOf(x, b.userId)).toEqual([expect.objectContaining({ revoked: false, liveAccessTokens: 1 })]);

    // Twice, or a token it never issued: 400 with Concur's Error (the relay can take it as "nothing left to revoke").
    const again = await revoke(x, { token: ta.Token! });
    expect(again.status).toBe(400);
    expect(await errorMessage(again)).toBe('The token is invalid or has already been revoked.');
    expect((await revoke(x, { token: 'H+IumY5p1W3U1QQ/X9T4AlcboHU=' })).status).toBe(400);
  });

  it('an expired access token still names its grant: revoking it stops the refresh token that outlives it', async () => {
    const x = h();
    const t = await legacyExchange(x, (await x.addRequest()).requestToken);
    x.clock.advance(2 * 365 * 24 * 3600_000);
    expect((await revoke(x, { token: t.Token! })).status).toBe(200);
    expect((await legacyRefresh(x, t.Refresh_Token!)).status).toBe(400);
  });

  it('?consumerKey=&user= revokes every legacy grant of that user (the sandbox login ID is the userId)', async () => {
    const x = h();
    const one = await x.addRequest({ userId: 'traveller-1' });
    const two = await x.addRequest({ userId: 'traveller-1' });
    const other = await x.addRequest({ userId: 'traveller-2' });
    for (const r of [one, two, other]) await legacyExchange(x, r.requestToken);
    expect((await revoke(x, { consumerKey: 'not-the-key', user: 'traveller-1' })).status).toBe(400);
    expect((await revoke(x, { consumerKey: x.sb.clientId, user: 'traveller-1' })).status).toBe(200);
    expect((await grantsOf(x, 'traveller-1')).map((g) => g.revoked)).toEqual([true, true]);
    expect((await grantsOf(x, 'traveller-2')).map((g) => g.revoked)).toEqual([false]);
    // client_id is read as consumerKey too; nobody left to revoke is the same 400.
    expect((await revoke(x, { client_id: x.sb.clientId, user: 'traveller-1' })).status).toBe(400);
  });

  it("needs the app's token (OAuth or Bearer): a traveller's token or none is refused, and it revokes legacy tokens only", async () => {
    const x = h();
    const legacy = await legacyExchange(x, (await x.addRequest()).requestToken);
    const oauth = await passwordGrant(x, await x.addRequest());
    expect((await revoke(x, { token: legacy.Token! }, `OAuth ${legacy.Token}`)).status).toBe(403);
    expect((await x.fetch(`${REVOKE}?token=${encodeURIComponent(legacy.Token!)}`, { method: 'POST' })).status).toBe(401);
    expect((await revoke(x, { token: String(oauth.access_token) }, `Bearer ${x.sb.accessToken}`)).status).toBe(400);
    expect((await revoke(x, {})).status).toBe(400);
    expect((await grantsOf(x)).map((g) => g.revoked)).toEqual([false, false]);
  });
});

describe('sandbox: DELETE /app-mgmt/v0/connections', () => {
  it("the traveller's Bearer JWT revokes all of that traveller's tokens, both forms: 200 as apidoc shows", async () => {
    const x = h();
    const first = await x.addRequest({ userId: 'traveller-1' });
    const second = await x.addRequest({ userId: 'traveller-1' });
    const stranger = await x.addRequest({ userId: 'traveller-2' });
    const legacy = await legacyExchange(x, first.requestToken);
    const oauth = await passwordGrant(x, second);
    const theirs = await passwordGrant(x, stranger);
    const res = await x.fetch(CONNECTIONS, { method: 'DELETE', headers: { Authorization: `Bearer ${String(oauth.access_token)}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    expect((await grantsOf(x, 'traveller-1')).map((g) => [g.form, g.revoked, g.revokedBy])).toEqual([
      ['legacy', true, 'app-mgmt'],
      ['oauth', true, 'app-mgmt'],
    ]);
    expect((await x.token({ grant_type: 'refresh_token', refresh_token: String(oauth.refresh_token) })).status).toBe(400);
    expect((await x.fetch(USER_API, { headers: { Authorization: `OAuth ${legacy.Token}` } })).status).toBe(403);
    expect((await x.fetch(USER_API, { headers: { Authorization: `Bearer ${String(theirs.access_token)}` } })).status).toBe(200);

    // Once revoked, the token cannot revoke again: it no longer authenticates (403).
    const again = await x.fetch(CONNECTIONS, { method: 'DELETE', headers: { Authorization: `Bearer ${String(oauth.access_token)}`, Accept: 'application/json' } });
    expect(again.status).toBe(403);
    expect(again.headers.get('content-type')).toBe('application/json; charset=utf-8');
  });

  it('answers 204 under the appMgmtDeleteStatus quirk', async () => {
    const x = h();
    const oauth = await passwordGrant(x, await x.addRequest());
    await x.control('PUT', '/quirks', { appMgmtDeleteStatus: 204 });
    expect((await x.fetch(CONNECTIONS, { method: 'DELETE', headers: { Authorization: `Bearer ${String(oauth.access_token)}` } })).status).toBe(204);
    expect((await x.control('PUT', '/quirks', { appMgmtDeleteStatus: 201 })).status).toBe(400);
  });

  it("refuses the JWT as OAuth, a legacy token, the app's tokens, an expired token and no token; nothing is revoked", async () => {
    const x = h();
    const oauth = await passwordGrant(x, await x.addRequest());
    const legacy = await legacyExchange(x, (await x.addRequest()).requestToken);
    const del = (authorization?: string) =>
      x.fetch(CONNECTIONS, { method: 'DELETE', headers: authorization === undefined ? {} : { Authorization: authorization } });
    expect((await del(`OAuth ${String(oauth.access_token)}`)).status).toBe(403);
    expect((await del(`Bearer ${legacy.Token}`)).status).toBe(403);
    expect((await del(`Bearer ${x.sb.accessToken}`)).status).toBe(403);
    expect((await del()).status).toBe(401);
    x.clock.advance(3600_000);
    expect((await del(`Bearer ${String(oauth.access_token)}`)).status).toBe(403);
    const { calls } = (await (await x.control('GET', '/calls')).json()) as { calls: Array<Record<string, unknown>> };
    expect(calls.filter((c) => c.route === 'revoke').map((c) => c.auth)).toEqual(['oauth_jwt', 'legacy_token', 'app_token', 'missing', 'expired']);
    expect((await grantsOf(x)).map((g) => g.revoked)).toEqual([false, false]);
  });
});
