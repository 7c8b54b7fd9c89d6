import { describe, expect, it } from 'vitest';
import { REFRESH_TOKEN_TTL_MS } from '../../../relay/sandbox/auth.js';
import { LEGACY_TOKEN, T0, grantsOf, httpSandbox, legacyExchange, passwordGrant } from './helpers.js';

/**
 * The password grant with credtype=authtoken over real HTTP: a request's userId and request token
 * become the traveller's own tokens, once, with Concur's error codes.
 */

const h = httpSandbox();
const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

function claims(jwt: unknown): Record<string, unknown> {
  return JSON.parse(Buffer.from(String(jwt).split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

const authtoken = (request: { userId: string; requestToken: string }) => ({
  grant_type: 'password',
  username: request.userId,
  password: request.requestToken,
  credtype: 'authtoken',
});

describe('sandbox: the password grant with credtype=authtoken', () => {
  it("answers the traveller's tokens like Concur, JSON and no-store, and the request moves to Processing", async () => {
    const { sb, token, control, addRequest } = h();
    const request = await addRequest({ firstName: 'Zoë', lastName: "O'Neill" });
    const res = await token(authtoken(request));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual([
      'expires_in', 'scope', 'token_type', 'access_token', 'refresh_token', 'refresh_expires_in', 'id_token', 'geolocation',
    ]);
    // The migration guide's number, not apidoc's string (the expiresIn quirk below forces one).
    expect(body.expires_in).toBe(3600);
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'openid USER', geolocation: sb.url });
    expect(body.refresh_expires_in).toBe(Math.floor((T0 + REFRESH_TOKEN_TTL_MS) / 1000));
    expect(body.refresh_token).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.access_token).toMatch(JWT);
    expect(claims(body.access_token)).toMatchObject({ sub: request.userId, 'concur.type': 'user', iss: sb.url });
    // "You can obtain the userId from this token."
    expect(claims(body.id_token)).toMatchObject({ sub: request.userId, aud: sb.clientId, 'concur.type': 'user' });

    const view = (await (await control('GET', `/requests/${request.id}`)).json()) as { request: Record<string, unknown> };
    expect(view.request).toMatchObject({ status: 'Processing', requestTokenUsed: true });
    expect(await grantsOf(h(), request.userId)).toEqual([
      expect.objectContaining({ form: 'oauth', requestId: request.id, firstName: 'Zoë', lastName: "O'Neill", refreshCount: 0, revoked: false }),
    ]);
  });

  it('is single use across both forms: a second password grant or a legacy exchange of the same token is refused, and the reverse', async () => {
    const { sb, token, fetch, addRequest } = h();
    const first = await addRequest();
    await passwordGrant(h(), first);
    const again = await token(authtoken(first));
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual({ error: 'invalid_request', error_description: 'code is bad or expired', code: 103, geolocation: sb.url });
    const legacy = await fetch(`${LEGACY_TOKEN}?${new URLSearchParams({ code: first.requestToken, client_id: sb.clientId, client_secret: sb.clientSecret })}`);
    expect(legacy.status).toBe(400);
    expect(await legacy.text()).toContain('already been used');

    const second = await addRequest();
    await legacyExchange(h(), second.requestToken);
    const afterLegacy = await token(authtoken(second));
    expect(afterLegacy.status).toBe(400);
    expect(await afterLegacy.json()).toMatchObject({ code: 103 });
  });

  it('refuses a request token older than 15 minutes (103) and takes one at 14:59', async () => {
    const { token, clock, addRequest } = h();
    const late = await addRequest();
    const early = await addRequest();
    clock.advance(14 * 60_000 + 59_000);
    expect((await token(authtoken(early))).status).toBe(200);
    clock.advance(1_000);
    const res = await token(authtoken(late));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request', code: 103 });
  });

  it('refuses a token issued for another user (136) without spending it: its own user still gets the tokens', async () => {
    const { sb, token, addRequest } = h();
    const mine = await addRequest();
    const theirs = await addRequest();
    const res = await token({ ...authtoken(mine), username: theirs.userId });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_grant', error_description: 'Authtoken was not issued for you', code: 136, geolocation: sb.url });
    // A userId differing only in case is another user: Concur's ids are compared as sent.
    expect((await token({ ...authtoken(mine), username: mine.userId.toUpperCase() })).status).toBe(400);
    expect((await token(authtoken(mine))).status).toBe(200);
  });

  it.each([
    ['an unknown request token', { password: 'EPCYxQ1NRMTstK61XmbdZp7effas271' }, 400, { error: 'invalid_request', code: 103 }],
    ['a credtype that is neither authtoken nor password', { credtype: 'otp' }, 400, { error: 'invalid_request', error_description: 'credtype is invalid', code: 120 }],
    ['credtype=password (the sandbox knows no passwords)', { credtype: 'password' }, 401, { error: 'invalid_grant', code: 5 }],
    ['no credtype (apidoc: password is assumed)', { credtype: '' }, 401, { error: 'invalid_grant', code: 5 }],
    ['no username', { username: '' }, 400, { error: 'invalid_request', error_description: 'username was not supplied', code: 51 }],
    ['no password', { password: '' }, 400, { error: 'invalid_request', error_description: 'password was not supplied', code: 52 }],
    ['a wrong client secret', { client_secret: 'wrong' }, 401, { error: 'invalid_grant', error_description: 'Incorrect Credentials. Please Retry', code: 5 }],
    ['no client id', { client_id: '' }, 400, { error: 'invalid_request', code: 62 }],
  ] as const)('answers %s with a Concur OAuth error carrying geolocation, and spends nothing', async (_name, fields, status, expected) => {
    const { sb, token, control, addRequest } = h();
    const request = await addRequest();
    const res = await token({ ...authtoken(request), ...fields });
    expect(res.status).toBe(status);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toMatchObject({ ...expected, geolocation: sb.url });
    const view = (await (await control('GET', `/requests/${request.id}`)).json()) as { request: Record<string, unknown> };
    expect(view.request).toMatchObject({ status: 'Pending', requestTokenUsed: false });
    expect(await grantsOf(h())).toEqual([]);
  });

  it('the expiresIn quirk sends expires_in as a string for travellers (and as a number for the app)', async () => {
    const { token, control, addRequest } = h();
    expect((await control('PUT', '/quirks', { expiresIn: 'string' })).status).toBe(200);
    expect((await passwordGrant(h(), await addRequest())).expires_in).toBe('3600');
    await control('PUT', '/quirks', { expiresIn: 'number' });
    const app = (await (await token({ grant_type: 'client_credentials' })).json()) as Record<string, unknown>;
    expect(app.expires_in).toBe(3600);
    await control('PUT', '/quirks', { expiresIn: null });
    const documented = (await (await token({ grant_type: 'client_credentials' })).json()) as Record<string, unknown>;
    expect(documented.expires_in).toBe('3600');
    expect((await control('PUT', '/quirks', { expiresIn: 'text' })).status).toBe(400);
  });
});
