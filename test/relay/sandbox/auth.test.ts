import { describe, expect, it } from 'vitest';
import { REFRESH_TOKEN_TTL_MS } from '../../../relay/sandbox/auth.js';
import { CR, GUID_UPPER, T0, inProcess, xml } from './helpers.js';

const FORBIDDEN = 'Forbidden. Please check your Instance URL and OAuth token.';

function form(fields: Record<string, string>): RequestInit {
  return {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  };
}

describe('sandbox: access tokens on the Concur routes', () => {
  it('accepts the static token with the OAuth and the Bearer scheme (any case)', async () => {
    const { sb, call } = inProcess();
    for (const scheme of ['OAuth', 'Bearer', 'bearer', 'OAUTH']) {
      const res = await call(CR, { headers: { Authorization: `${scheme} ${sb.credentials.accessToken}` } });
      expect(res.status, scheme).toBe(200);
    }
  });

  it('answers 401 without an Authorization header, with a Concur Error body in the negotiated format', async () => {
    const { sb } = inProcess();
    const xmlRes = await sb.app.request(`http://concur.test${CR}`);
    expect(xmlRes.status).toBe(401);
    const body = xml.parse(await xmlRes.text()) as { Error: { Message: string; 'Server-Time': string; Id: string } };
    expect(body.Error.Message).toMatch(/Authorization header/);
    expect(body.Error['Server-Time']).toBe('2024-05-01T12:00:00');
    expect(body.Error.Id).toMatch(GUID_UPPER);
    const jsonRes = await sb.app.request(`http://concur.test${CR}`, { headers: { Accept: 'application/json' } });
    expect(jsonRes.status).toBe(401);
    expect(jsonRes.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(Object.keys(((await jsonRes.json()) as { Error: object }).Error)).toEqual(['Message', 'Server-Time', 'Id']);
  });

  it.each([
    ['an unknown token', 'OAuth H+IumY5p1W3U1QQ/X9T4AlcboHU='],
    ['another scheme', 'Basic dXNlcjpwYXNz'],
    ['a scheme with no token', 'Bearer'],
    ['a bare token', 'H+IumY5p1W3U1QQ/X9T4AlcboHU='],
  ])('answers 403 to %s', async (_name, header) => {
    const { call } = inProcess();
    const res = await call(CR, { headers: { Authorization: header, Accept: 'application/json' } });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { Error: { Message: string } };
    expect(body.Error.Message).toBe(FORBIDDEN);
  });

  it('OAuth-issued tokens expire after accessTokenTtlSeconds of sandbox time; the static token never does', async () => {
    const { sb, call, clock } = inProcess({ accessTokenTtlSeconds: 600 });
    const { clientId, clientSecret } = sb.credentials;
    const issued = (await (await call('/oauth2/v0/token', form({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }))).json()) as {
      access_token: string;
      expires_in: string;
    };
    expect(issued.expires_in).toBe('600');
    const bearer = { headers: { Authorization: `Bearer ${issued.access_token}` } };
    expect((await call(CR, bearer)).status).toBe(200);
    clock.advance(599_000);
    expect((await call(CR, bearer)).status).toBe(200);
    clock.advance(1_000);
    expect((await call(CR, bearer)).status).toBe(403);
    clock.advance(10 * 365 * 24 * 3600_000);
    expect((await call(CR)).status).toBe(200);
  });

  it('POST /_sandbox/tokens/expire expires every issued token now; includeStatic revokes the static one until reset', async () => {
    const { sb, call, control } = inProcess();
    const { clientId, clientSecret } = sb.credentials;
    const issued = (await (await call('/oauth2/v0/token', form({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }))).json()) as {
      access_token: string;
    };
    const res = await control('POST', '/tokens/expire');
    expect(await res.json()).toEqual({ expired: 1 });
    expect((await call(CR, { headers: { Authorization: `Bearer ${issued.access_token}` } })).status).toBe(403);
    expect((await call(CR)).status).toBe(200);
    expect(await (await control('POST', '/tokens/expire', { includeStatic: true })).json()).toEqual({ expired: 1 });
    expect((await call(CR)).status).toBe(403);
    await control('POST', '/reset');
    expect((await call(CR)).status).toBe(200);
    expect((await control('POST', '/tokens/expire', { includeStatic: 'yes' })).status).toBe(400);
  });

  it('logs the auth scheme and outcome, never the token', async () => {
    const { sb, call, control } = inProcess();
    await call(CR);
    await call(CR, { headers: { Authorization: 'Bearer nope' } });
    await sb.app.request(`http://concur.test${CR}`);
    const { calls } = (await (await control('GET', '/calls')).json()) as { calls: Array<Record<string, unknown>> };
    expect(calls.map((c) => [c.authScheme, c.auth, c.status])).toEqual([
      ['OAuth', 'ok', 200],
      ['Bearer', 'unknown', 403],
      [null, 'missing', 401],
    ]);
    expect(JSON.stringify(calls)).not.toContain(sb.credentials.accessToken);
  });
});

describe('sandbox: POST /oauth2/v0/token', () => {
  it('refresh_token grant answers like Concur and rotates the refresh token', async () => {
    const { sb, call } = inProcess();
    const { clientId, clientSecret, refreshToken } = sb.credentials;
    const res = await call('/oauth2/v0/token', form({ grant_type: 'refresh_token', client_id: clientId, client_secret: clientSecret, refresh_token: refreshToken }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual([
      'expires_in', 'scope', 'token_type', 'access_token', 'refresh_token', 'refresh_expires_in', 'id_token', 'geolocation',
    ]);
    expect(body).toMatchObject({ expires_in: '3600', scope: 'CONNECTIONREQUESTS', token_type: 'Bearer', geolocation: 'http://concur.test' });
    expect(body.refresh_expires_in).toBe(Math.floor((T0 + REFRESH_TOKEN_TTL_MS) / 1000));
    expect(body.id_token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(body.access_token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(body.refresh_token).not.toBe(refreshToken);

    // The new access token works on the Concur routes.
    expect((await call(CR, { headers: { Authorization: `Bearer ${String(body.access_token)}` } })).status).toBe(200);

    // The old refresh token is spent; the new one works once.
    const reuse = await call('/oauth2/v0/token', form({ grant_type: 'refresh_token', client_id: clientId, client_secret: clientSecret, refresh_token: refreshToken }));
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toMatchObject({ error: 'invalid_grant', code: 108 });
    const next = await call('/oauth2/v0/token', form({ grant_type: 'refresh_token', client_id: clientId, client_secret: clientSecret, refresh_token: String(body.refresh_token) }));
    expect(next.status).toBe(200);
  });

  it('client_credentials answers without refresh_token', async () => {
    const { sb, call } = inProcess();
    const { clientId, clientSecret } = sb.credentials;
    const body = (await (await call('/oauth2/v0/token', form({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }))).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ expires_in: '3600', token_type: 'Bearer', scope: 'CONNECTIONREQUESTS', geolocation: 'http://concur.test' });
    expect(body).not.toHaveProperty('refresh_token');
    expect(body).not.toHaveProperty('refresh_expires_in');
  });

  it('a refresh token expires after six months of sandbox time', async () => {
    const { sb, call, clock } = inProcess();
    const { clientId, clientSecret, refreshToken } = sb.credentials;
    clock.advance(REFRESH_TOKEN_TTL_MS);
    const res = await call('/oauth2/v0/token', form({ grant_type: 'refresh_token', client_id: clientId, client_secret: clientSecret, refresh_token: refreshToken }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_grant', error_description: 'bad or expired refresh token', code: 108 });
  });

  it.each([
    ['a wrong secret', { grant_type: 'client_credentials', client_secret: 'wrong' }, 401, { error: 'invalid_grant', error_description: 'Incorrect Credentials. Please Retry', code: 5 }],
    ['a wrong client id', { grant_type: 'refresh_token', client_id: 'nobody' }, 401, { error: 'invalid_grant', code: 5 }],
    ['an unknown refresh token', { grant_type: 'refresh_token', refresh_token: 'nope' }, 400, { error: 'invalid_grant', code: 108 }],
    ['no refresh token', { grant_type: 'refresh_token', refresh_token: '' }, 400, { error: 'invalid_request', code: 106 }],
    ['an unsupported grant', { grant_type: 'authorization_code' }, 400, { error: 'unsupported_grant_type', code: 60 }],
    ['the password grant without a username', { grant_type: 'password', credtype: 'authtoken', password: 'x' }, 400, { error: 'invalid_request', code: 51 }],
    ['no grant_type', { grant_type: '' }, 400, { error: 'invalid_request', code: 65 }],
  ] as const)('answers %s with a Concur OAuth error', async (_name, fields, status, expected) => {
    const { sb, call } = inProcess();
    const base: Record<string, string> = {
      client_id: sb.credentials.clientId,
      client_secret: sb.credentials.clientSecret,
      refresh_token: sb.credentials.refreshToken,
    };
    const res = await call('/oauth2/v0/token', form({ ...base, ...fields }));
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ ...expected, geolocation: 'http://concur.test' });
  });

  it('logs the grant type but no secret', async () => {
    const { sb, call, control } = inProcess();
    const { clientId, clientSecret, refreshToken } = sb.credentials;
    await call('/oauth2/v0/token', form({ grant_type: 'refresh_token', client_id: clientId, client_secret: clientSecret, refresh_token: refreshToken }));
    const { calls } = (await (await control('GET', '/calls')).json()) as { calls: Array<Record<string, unknown>> };
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ route: 'token', method: 'POST', status: 200, grantType: 'refresh_token' });
    const text = JSON.stringify(calls);
    expect(text).not.toContain(clientSecret);
    expect(text).not.toContain(refreshToken);
  });
});
