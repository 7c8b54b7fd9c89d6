import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientCredentialsGrant } from '../../../relay/concur/client-credentials.js';
import { type RunningSandbox, startSandbox } from '../../../relay/sandbox/server.js';
import type { CallRecord } from '../../../relay/sandbox/calls.js';
import { fixtureServer } from '../../helpers/fixture-server.js';
import { concurFailure } from '../../helpers/concur.js';

/**
 * API 3.2's app token from the client-credentials grant, against the sandbox's token endpoint over
 * real HTTP: the form apidoc documents, one token until shortly before it expires, one new token
 * when Concur refuses it, and the geolocation it names.
 */

let sandbox: RunningSandbox;
beforeEach(async () => {
  sandbox = await startSandbox({ seed: 0 });
});
afterEach(async () => {
  await sandbox.close();
});

const tokenCalls = (): CallRecord[] => sandbox.calls.list().filter((call) => call.route === 'token');

function grant(now: () => number = Date.now) {
  return clientCredentialsGrant({
    tokenUrl: `${sandbox.url}/oauth2/v0/token`,
    clientId: sandbox.clientId,
    clientSecret: sandbox.clientSecret,
    now,
  });
}

describe('the client-credentials grant', () => {
  it('posts exactly the documented form (no scope), gets a Bearer JWT and the geolocation its answer names', async () => {
    const auth = grant();
    const header = await auth.authorization();
    expect(header).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]*$/);
    expect(auth.geolocation?.()).toBe(sandbox.url);
    const [call] = tokenCalls();
    expect(call).toMatchObject({ method: 'POST', grantType: 'client_credentials', status: 200 });
    // The call log redacts the secret; the form's fields are apidoc's three, nothing more.
    expect(Object.keys(call!.form!).sort()).toEqual(['client_id', 'client_secret', 'grant_type']);
    expect(call!.form!.client_id).toBe(sandbox.clientId);
  });

  it('keeps one token until a minute before its hour is up, then asks for a new one', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const auth = grant(() => now);
    const first = await auth.authorization();
    now += 58 * 60 * 1000;
    expect(await auth.authorization()).toBe(first);
    expect(tokenCalls()).toHaveLength(1);
    now += 60 * 1000;
    const second = await auth.authorization();
    expect(second).not.toBe(first);
    expect(tokenCalls()).toHaveLength(2);
  });

  it('gets one new token on renew() (after a 401/403), shared by callers at the same moment', async () => {
    const auth = grant();
    const first = await auth.authorization();
    const renewed = await Promise.all([auth.renew(), auth.renew()]);
    expect(renewed).toEqual([true, true]);
    expect(tokenCalls()).toHaveLength(2);
    expect(await auth.authorization()).not.toBe(first);
    expect(tokenCalls()).toHaveLength(2);
  });

  it('reports refused credentials as unauthorized, with Concur’s words and never the secret', async () => {
    const auth = clientCredentialsGrant({ tokenUrl: `${sandbox.url}/oauth2/v0/token`, clientId: sandbox.clientId, clientSecret: 'wrong-secret-value' });
    const error = await concurFailure(auth.authorization());
    expect(error.kind).toBe('unauthorized');
    expect(error.message).toMatch(/^client-credentials grant refused by Concur \(invalid_grant: .*code 5\)$/);
    expect(error.message).not.toContain('wrong-secret-value');
  });

  it('refuses a geolocation it must not send the token to: not http(s), with a user name, or not a URL', async () => {
    let geolocation = 'ftp://files.example';
    const server = await fixtureServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'a.b.c', expires_in: '3600', token_type: 'Bearer', geolocation }));
    });
    try {
      for (geolocation of ['ftp://files.example', 'http://user:pw@127.0.0.1:1', 'not a url']) {
        const auth = clientCredentialsGrant({ tokenUrl: `${server.url}/oauth2/v0/token`, clientId: 'id', clientSecret: 'secret' });
        const error = await concurFailure(auth.authorization());
        expect(error.kind, geolocation).toBe('bad_response');
        expect(error.message, geolocation).toMatch(/^client-credentials grant: the geolocation (must be an https origin|is not a URL)/);
        expect(error.message).not.toContain('pw');
      }
      // No geolocation at all: the calls stay on the configured instance.
      geolocation = '';
      const auth = clientCredentialsGrant({ tokenUrl: `${server.url}/oauth2/v0/token`, clientId: 'id', clientSecret: 'secret' });
      await auth.authorization();
      expect(auth.geolocation?.()).toBeNull();
    } finally {
      await server.close();
    }
  });
});
