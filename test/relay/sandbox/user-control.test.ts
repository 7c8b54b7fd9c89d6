import { describe, expect, it } from 'vitest';
import { CR, type OverHttp, grantsOf, httpSandbox, legacyExchange, passwordGrant } from './helpers.js';

/**
 * The control side of the travellers' tokens, over real HTTP: faults on refresh, revocation and the
 * User API; expiring tokens on demand; the grants' view; a call log that never holds a token.
 */

const h = httpSandbox();
const USER_API = '/api/user/v1.0/User';

const fault = (x: OverHttp, spec: Record<string, unknown>) => x.control('POST', '/faults', spec);
const legacyRefresh = (x: OverHttp, refreshToken: string) =>
  x.fetch(`/net2/oauth2/getaccesstoken.ashx?${new URLSearchParams({ refresh_token: refreshToken, client_id: x.sb.clientId, client_secret: x.sb.clientSecret })}`);
const bearer = (token: unknown) => ({ headers: { Authorization: `Bearer ${String(token)}` } });

async function calls(x: OverHttp): Promise<Array<Record<string, unknown>>> {
  return ((await (await x.control('GET', '/calls')).json()) as { calls: Array<Record<string, unknown>> }).calls;
}

describe('sandbox: faults on the travellers’ token routes', () => {
  it('route "refresh" hits refreshes of either form (app or traveller) and nothing else; the refresh token is not spent', async () => {
    const x = h();
    const oauth = await passwordGrant(x, await x.addRequest());
    const legacy = await legacyExchange(x, (await x.addRequest()).requestToken);
    expect((await fault(x, { route: 'refresh', kind: 'status503', retryAfterSeconds: 30 })).status).toBe(201);

    const hit = await x.token({ grant_type: 'refresh_token', refresh_token: String(oauth.refresh_token) });
    expect(hit.status).toBe(503);
    expect(hit.headers.get('retry-after')).toBe('30');
    expect(((await hit.json()) as { Error: { Message: string } }).Error.Message).toMatch(/Service Unavailable/);
    expect((await x.token({ grant_type: 'refresh_token', refresh_token: x.sb.refreshToken })).status).toBe(503);
    expect((await legacyRefresh(x, legacy.Refresh_Token!)).status).toBe(503);
    // Not refreshes: the other grants, an exchange, the User API.
    expect((await x.token({ grant_type: 'client_credentials' })).status).toBe(200);
    expect((await passwordGrant(x, await x.addRequest())).access_token).toBeTruthy();
    await legacyExchange(x, (await x.addRequest()).requestToken);
    expect((await x.fetch(USER_API, bearer(oauth.access_token))).status).toBe(200);

    await x.control('DELETE', '/faults');
    expect((await x.token({ grant_type: 'refresh_token', refresh_token: String(oauth.refresh_token) })).status).toBe(200);
    expect((await legacyRefresh(x, legacy.Refresh_Token!)).status).toBe(200);
    const refreshes = (await calls(x)).filter((c) => c.grantType === 'refresh_token');
    expect(refreshes.map((c) => [c.route, c.fault, c.status])).toEqual([
      ['token', 'status503', 503],
      ['token', 'status503', 503],
      ['exchange', 'status503', 503],
      ['token', null, 200],
      ['exchange', null, 200],
    ]);
  });

  it('route "token" covers both revocations too; "revoke" only them; "user" only the User API', async () => {
    const x = h();
    const oauth = await passwordGrant(x, await x.addRequest());
    const legacy = await legacyExchange(x, (await x.addRequest()).requestToken);
    const revokeLegacy = () =>
      x.fetch(`/net2/oauth2/revoketoken.ashx?token=${encodeURIComponent(legacy.Token!)}`, { method: 'POST', headers: { Authorization: `OAuth ${x.sb.accessToken}` } });
    const deleteConnections = () => x.fetch('/app-mgmt/v0/connections', { method: 'DELETE', ...bearer(oauth.access_token) });

    await fault(x, { route: 'token', kind: 'status429', times: 2 });
    expect((await revokeLegacy()).status).toBe(429);
    expect((await deleteConnections()).status).toBe(429);
    await fault(x, { route: 'revoke', kind: 'error200', times: 1 });
    await fault(x, { route: 'user', kind: 'status503', times: 1 });
    expect((await x.fetch(CR, { headers: { Authorization: `OAuth ${x.sb.accessToken}` } })).status).toBe(200);
    expect((await x.fetch(USER_API, bearer(oauth.access_token))).status).toBe(503);
    expect((await x.fetch(USER_API, bearer(oauth.access_token))).status).toBe(200);
    // error200: Concur's "200, but an Error in the payload"; nothing was revoked.
    const error200 = await revokeLegacy();
    expect(error200.status).toBe(200);
    expect(await error200.text()).toContain('<Error>');
    expect((await grantsOf(x)).map((g) => g.revoked)).toEqual([false, false]);
    expect((await revokeLegacy()).status).toBe(200);
    expect((await deleteConnections()).status).toBe(200);
    expect((await grantsOf(x)).map((g) => g.revoked)).toEqual([true, true]);
  });

  it('the new fault routes are validated like the others', async () => {
    const x = h();
    expect((await fault(x, { route: 'refresh', kind: 'hang', times: 1 })).status).toBe(201);
    expect((await fault(x, { route: 'connections', kind: 'hang' })).status).toBe(400);
  });
});

describe('sandbox: POST /_sandbox/tokens/expire and the travellers', () => {
  it('expires the app’s tokens by default, the travellers’ with tokens: users, both with all, one traveller with userId', async () => {
    const x = h();
    const a = await x.addRequest({ userId: 'traveller-a' });
    const b = await x.addRequest({ userId: 'traveller-b' });
    const ta = await passwordGrant(x, a);
    const tb = await legacyExchange(x, b.requestToken);
    const app = ((await (await x.token({ grant_type: 'client_credentials' })).json()) as { access_token: string }).access_token;
    const works = async () => [
      (await x.fetch(CR, bearer(app))).status,
      (await x.fetch(USER_API, bearer(ta.access_token))).status,
      (await x.fetch(USER_API, bearer(tb.Token))).status,
    ];
    const expire = async (body?: unknown) => ((await (await x.control('POST', '/tokens/expire', body)).json()) as { expired: number }).expired;

    expect(await expire()).toBe(1);
    expect(await works()).toEqual([403, 200, 200]);
    expect(await expire({ userId: 'traveller-b' })).toBe(1);
    expect(await works()).toEqual([403, 200, 403]);
    // A refresh brings a traveller back, as it would after a real expiry.
    const fresh = await legacyRefresh(x, tb.Refresh_Token!);
    expect(fresh.status).toBe(200);
    expect(await expire({ tokens: 'users' })).toBe(2);
    expect(await works()).toEqual([403, 403, 403]);
    expect(await expire({ tokens: 'all' })).toBe(0);
    expect(await grantsOf(x)).toEqual([
      expect.objectContaining({ userId: 'traveller-a', accessTokenExpired: true, liveAccessTokens: 0, revoked: false }),
      expect.objectContaining({ userId: 'traveller-b', accessTokenExpired: true, liveAccessTokens: 0, refreshCount: 1 }),
    ]);
    for (const bad of [{ tokens: 'app', userId: 'traveller-a' }, { tokens: 'everyone' }, { userId: '' }]) {
      expect((await x.control('POST', '/tokens/expire', bad)).status).toBe(400);
    }
  });
});

describe('sandbox: GET /_sandbox/users and the call log', () => {
  it('shows each grant’s state and never a token; /users/:userId one traveller (404 for none); a reset keeps them', async () => {
    const x = h();
    const request = await x.addRequest({ userId: 'traveller-a', firstName: 'Ann', lastName: 'Lee' });
    const tokens = await passwordGrant(x, request);
    const res = await x.control('GET', '/users');
    const text = await res.text();
    const { now, grants } = JSON.parse(text) as { now: string; grants: Array<Record<string, unknown>> };
    expect(now).toBe('2024-05-01T12:00:00.000Z');
    expect(grants).toEqual([
      {
        id: 'grant-1',
        form: 'oauth',
        requestId: request.id,
        userId: 'traveller-a',
        firstName: 'Ann',
        lastName: 'Lee',
        issuedAt: '2024-05-01T12:00:00.000Z',
        accessTokenExpiresAt: '2024-05-01T13:00:00.000Z',
        accessTokenExpired: false,
        liveAccessTokens: 1,
        refreshTokenExpiresAt: '2024-10-28T12:00:00.000Z',
        refreshTokenExpired: false,
        refreshCount: 0,
        lastRefreshedAt: null,
        revoked: false,
        revokedAt: null,
        revokedBy: null,
      },
    ]);
    for (const secret of [tokens.access_token, tokens.refresh_token, tokens.id_token, request.requestToken]) expect(text).not.toContain(String(secret));
    expect((await x.control('GET', '/users/nobody')).status).toBe(404);
    await x.control('POST', '/reset');
    expect(await grantsOf(x, 'traveller-a')).toHaveLength(1);
    expect(((await (await x.control('GET', '')).json()) as Record<string, unknown>).userGrants).toBe(1);
  });

  it('logs every token call with its grant and form, secrets redacted: no token, password or secret anywhere', async () => {
    const x = h();
    const request = await x.addRequest({ userId: 'traveller-a' });
    const legacyRequest = await x.addRequest({ userId: 'traveller-b' });
    const oauth = await passwordGrant(x, request);
    const refreshed = (await (await x.token({ grant_type: 'refresh_token', refresh_token: String(oauth.refresh_token) })).json()) as Record<string, unknown>;
    const legacy = await legacyExchange(x, legacyRequest.requestToken);
    await legacyRefresh(x, legacy.Refresh_Token!);
    await x.fetch(USER_API, bearer(refreshed.access_token));
    await x.fetch(`/net2/oauth2/revoketoken.ashx?token=${encodeURIComponent(legacy.Token!)}`, { method: 'POST', headers: { Authorization: `OAuth ${x.sb.accessToken}` } });
    await x.fetch('/app-mgmt/v0/connections', { method: 'DELETE', ...bearer(refreshed.access_token) });
    // A JSON body on the token route is not logged as a form: its text could be anything.
    await x.fetch('/oauth2/v0/token', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ client_secret: x.sb.clientSecret }) });

    const log = await calls(x);
    expect(log.map((c) => [c.route, c.grantType, c.status])).toEqual([
      ['token', 'password', 200],
      ['token', 'refresh_token', 200],
      ['exchange', null, 200],
      ['exchange', 'refresh_token', 200],
      ['user', null, 200],
      ['revoke', null, 200],
      ['revoke', null, 200],
      ['token', null, 400],
    ]);
    expect(log[0]!.form).toEqual({
      client_id: x.sb.clientId,
      client_secret: '[redacted]',
      grant_type: 'password',
      username: 'traveller-a',
      password: '[redacted]',
      credtype: 'authtoken',
    });
    expect(log[1]!.form).toMatchObject({ refresh_token: '[redacted]' });
    expect(log[3]!.query).toMatchObject({ refresh_token: '[redacted]', client_secret: '[redacted]' });
    expect(log[5]!.query).toEqual({ token: '[redacted]' });
    expect(log[7]!.form).toBeNull();
    const text = JSON.stringify(log);
    const secrets = [request.requestToken, legacyRequest.requestToken, x.sb.clientSecret, x.sb.accessToken, legacy.Token!, legacy.Refresh_Token!];
    for (const value of [oauth, refreshed]) secrets.push(String(value.access_token), String(value.refresh_token), String(value.id_token));
    for (const secret of secrets) expect(text).not.toContain(secret);
  });
});
