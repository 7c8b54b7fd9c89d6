import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ExchangeClient, ExchangeError, type ExchangeForm } from '../../../relay/concur/exchange.js';
import { fromLegacyDate } from '../../../relay/concur/user-tokens.js';
import { fixtureServer } from '../../helpers/fixture-server.js';

/**
 * The exchange client against answers the sandbox does not give (hostile hosts, odd bodies,
 * every refusal code): what Concur says is turned into tokens or into the one failure kind the
 * outbox can act on. The happy paths against the sandbox are in the connection tests.
 */

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
const servers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function concur(handler: Handler, host: '127.0.0.1' | '127.0.0.2' = '127.0.0.1') {
  const calls: Array<{ method: string; url: string; body: string; authorization: string | undefined }> = [];
  const server = await fixtureServer(
    (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        calls.push({ method: req.method ?? '', url: req.url ?? '', body, authorization: req.headers.authorization });
        handler(req, body, res);
      });
    },
    { host },
  );
  servers.push(server);
  return { ...server, calls };
}

function client(form: ExchangeForm, url: string, now = Date.parse('2026-01-01T00:00:00Z')) {
  return new ExchangeClient({ form, baseUrl: url, tokenUrl: `${url}/oauth2/v0/token`, clientId: 'app-id', clientSecret: 'app-secret', now: () => now });
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

async function failure(promise: Promise<unknown>): Promise<ExchangeError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExchangeError);
  return error as ExchangeError;
}

describe('the legacy exchange (getaccesstoken.ashx)', () => {
  it('sends the request token as `code` with the app credentials, and reads the XML answer in any casing', async () => {
    const server = await concur((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/xml' }).end(
        '<Access_Token><Instance_URL>https://www.ea1.concursolutions.com/</Instance_URL><Token>user-token</Token>' +
          '<Expiration_date>3/30/2027 2:19:10 PM</Expiration_date><Refresh_Token>user-refresh</Refresh_Token></Access_Token>',
      );
    });
    const tokens = await client('legacy', server.url).exchange({ requestToken: 'req-token', userId: null });
    expect(tokens).toEqual({
      accessToken: 'user-token',
      refreshToken: 'user-refresh',
      instanceUrl: 'https://www.ea1.concursolutions.com/',
      accessTokenExpiresAt: '2027-03-30T14:19:10.000Z',
      refreshTokenExpiresAt: null,
      geolocation: null,
    });
    const url = new URL(server.calls[0]!.url, server.url);
    expect(url.pathname).toBe('/net2/oauth2/getaccesstoken.ashx');
    expect(Object.fromEntries(url.searchParams)).toEqual({ code: 'req-token', client_id: 'app-id', client_secret: 'app-secret' });
  });

  it('reads an indented XML answer with a namespace and references, an XML <Error> as a refusal, and refuses a DOCTYPE unread', async () => {
    let body = '';
    const server = await concur((_req, _body, res) => res.writeHead(200, { 'content-type': 'application/xml' }).end(body));
    body = `<?xml version="1.0" encoding="utf-8"?>
<c:Access_Token xmlns:c="urn:concur">
  <c:Instance_Url>
    https://www.ea1.concursolutions.com/
  </c:Instance_Url>
  <c:Token>user&amp;token</c:Token>
  <c:Expiration_date>3/30/2027 2:19:10 PM</c:Expiration_date>
  <c:Refresh_Token>user-refresh</c:Refresh_Token>
</c:Access_Token>`;
    expect(await client('legacy', server.url).exchange({ requestToken: 'x', userId: null })).toMatchObject({
      accessToken: 'user&token',
      instanceUrl: 'https://www.ea1.concursolutions.com/',
      accessTokenExpiresAt: '2027-03-30T14:19:10.000Z',
    });
    body = '<Error><Message>The request token expired</Message></Error>';
    const expired = await failure(client('legacy', server.url).exchange({ requestToken: 'x', userId: null }));
    expect(expired).toMatchObject({ kind: 'token_refused' });
    expect(expired.message).toContain('The request token expired');
    body = '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY t "tok">]><Access_Token><Token>&t;</Token></Access_Token>';
    const doctype = await failure(client('legacy', server.url).exchange({ requestToken: 'x', userId: null }));
    expect(doctype).toMatchObject({ kind: 'bad_response', message: 'exchange: the answer is neither the XML nor the JSON Concur sends' });
  });

  it('reads the JSON form too, and tells a refused request token from refused app credentials', async () => {
    let answer: [number, unknown] = [200, { Access_Token: { Instance_Url: `https://x.concursolutions.com`, Token: 't', Expiration_date: '1/2/2027 1:00:00 AM', Refresh_Token: 'r' } }];
    const server = await concur((_req, _body, res) => json(res, ...answer));
    expect((await client('legacy', server.url).exchange({ requestToken: 'x', userId: null })).accessTokenExpiresAt).toBe('2027-01-02T01:00:00.000Z');
    answer = [400, { Error: { Message: 'Invalid request token' } }];
    expect((await failure(client('legacy', server.url).exchange({ requestToken: 'x', userId: null }))).kind).toBe('token_refused');
    // Concur's 200 with an error inside is a refusal all the same.
    answer = [200, { Error: { Message: 'The request token expired' } }];
    const expired = await failure(client('legacy', server.url).exchange({ requestToken: 'x', userId: null }));
    expect(expired).toMatchObject({ kind: 'token_refused' });
    expect(expired.message).toContain('The request token expired');
    answer = [401, { Error: { Message: 'Invalid client_id or client_secret.' } }];
    expect((await failure(client('legacy', server.url).exchange({ requestToken: 'x', userId: null }))).kind).toBe('credentials_refused');
    answer = [503, { Error: { Message: 'maintenance' } }];
    expect((await failure(client('legacy', server.url).exchange({ requestToken: 'x', userId: null }))).kind).toBe('unavailable');
  });

  it('never trusts an instance outside Concur: the refresh token would go there next', async () => {
    const server = await concur((_req, _body, res) =>
      json(res, 200, { Access_Token: { Instance_Url: 'https://evil.example', Token: 't', Expiration_date: '1/2/2027 1:00:00 AM', Refresh_Token: 'r' } }),
    );
    const error = await failure(client('legacy', server.url).exchange({ requestToken: 'x', userId: null }));
    expect(error.kind).toBe('bad_response');
    expect(error.message).toContain('https://evil.example');
    expect(error.message).not.toContain('app-secret');
  });

  it('reads the legacy date, and nothing that is not one', () => {
    expect(fromLegacyDate('12/31/2026 11:59:59 PM')).toBe('2026-12-31T23:59:59.000Z');
    expect(fromLegacyDate('1/1/2027 12:00:00 AM')).toBe('2027-01-01T00:00:00.000Z');
    expect(fromLegacyDate('1/1/2027 12:30:00 PM')).toBe('2027-01-01T12:30:00.000Z');
    for (const bad of ['2/30/2027 1:00:00 AM', '2027-01-01T00:00:00', '13/1/2027 1:00:00 AM', '']) expect(fromLegacyDate(bad), bad).toBeUndefined();
  });
});

describe('the OAuth 2.0 password grant (credtype=authtoken)', () => {
  const tokenAnswer = (geolocation: string) => ({
    access_token: 'jwt-access',
    refresh_token: 'refresh-1',
    expires_in: '3600',
    refresh_expires_in: Date.parse('2026-07-01T00:00:00Z') / 1000,
    id_token: 'id',
    geolocation,
  });

  it('posts the userId and request token as a password grant, and keeps the geolocation', async () => {
    const server = await concur((_req, _body, res) => json(res, 200, tokenAnswer(server.url)));
    const tokens = await client('password', server.url).exchange({ requestToken: 'req-token', userId: 'user-guid' });
    expect(tokens).toEqual({
      accessToken: 'jwt-access',
      refreshToken: 'refresh-1',
      instanceUrl: server.url,
      accessTokenExpiresAt: '2026-01-01T01:00:00.000Z',
      refreshTokenExpiresAt: '2026-07-01T00:00:00.000Z',
      geolocation: server.url,
    });
    expect(Object.fromEntries(new URLSearchParams(server.calls[0]!.body))).toEqual({
      grant_type: 'password',
      username: 'user-guid',
      password: 'req-token',
      credtype: 'authtoken',
      client_id: 'app-id',
      client_secret: 'app-secret',
    });
  });

  it.each([
    [400, { error: 'invalid_grant', error_description: 'code bad or expired', code: 103 }, 'token_refused'],
    [400, { error: 'invalid_grant', error_description: 'Authtoken was not issued for you', code: 136 }, 'token_refused'],
    [401, { error: 'invalid_grant', error_description: 'Incorrect Credentials. Please Retry', code: 5 }, 'credentials_refused'],
    [400, { error: 'invalid_request', code: 120 }, 'bad_response'],
    [503, { message: 'down' }, 'unavailable'],
  ] as const)('turns %i %j into %s', async (status, body, kind) => {
    const server = await concur((_req, _body, res) => json(res, status, body));
    expect((await failure(client('password', server.url).exchange({ requestToken: 'x', userId: 'u' }))).kind).toBe(kind);
  });

  it('refreshes at the stored geolocation, and refuses to send a refresh token to a host that is not Concur', async () => {
    const geo = await concur((_req, _body, res) => json(res, 200, { ...tokenAnswer(geo.url), refresh_token: 'refresh-2' }), '127.0.0.2');
    const base = await concur((_req, _body, res) => json(res, 500, {}));
    // The configured token endpoint named 127.0.0.2 as the geolocation: allowed only when it is a configured origin.
    const ours = new ExchangeClient({ form: 'password', baseUrl: base.url, tokenUrl: `${geo.url}/oauth2/v0/token`, clientId: 'app-id', clientSecret: 'app-secret' });
    const held = { form: 'password' as const, accessToken: 'a', refreshToken: 'refresh-1', geolocation: geo.url };
    expect((await ours.refresh(held)).refreshToken).toBe('refresh-2');
    expect(Object.fromEntries(new URLSearchParams(geo.calls[0]!.body))).toMatchObject({ grant_type: 'refresh_token', refresh_token: 'refresh-1' });
    const stranger = client('password', base.url);
    expect((await failure(stranger.refresh(held))).kind).toBe('bad_response');
    expect(geo.calls).toHaveLength(1);
  });
});
