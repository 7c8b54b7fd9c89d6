import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientCredentialsGrant } from '../../../relay/concur/client-credentials.js';
import { ConcurClient } from '../../../relay/concur/client.js';
import { type RunningSandbox, startSandbox } from '../../../relay/sandbox/server.js';
import { fixtureServer } from '../../helpers/fixture-server.js';

/**
 * API 3.2 calls go to the geolocation the token's answer names, not to CONCUR_BASE_URL: two
 * sandboxes stand for two of Concur's data centres, and a token endpoint in front of them (on
 * 127.0.0.2, its own origin) hands out a token of one of them with that one's geolocation.
 */

let us: RunningSandbox;
let eu: RunningSandbox;
let issuing: RunningSandbox;
let tokenEndpoint: Awaited<ReturnType<typeof fixtureServer>>;

beforeEach(async () => {
  us = await startSandbox({ seed: 3, random: 1, ids: 'guid' });
  eu = await startSandbox({ seed: 2, random: 2, ids: 'guid' });
  issuing = us;
  tokenEndpoint = await fixtureServer(
    (_req, res) => {
      // A real token of the data centre in charge, with that centre's geolocation.
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: issuing.clientId, client_secret: issuing.clientSecret });
      void fetch(`${issuing.url}/oauth2/v0/token`, { method: 'POST', body: form }).then(async (answer) => {
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(await answer.text());
      });
    },
    { host: '127.0.0.2' },
  );
});
afterEach(async () => {
  await tokenEndpoint.close();
  await us.close();
  await eu.close();
});

const lists = (sandbox: RunningSandbox) => sandbox.calls.list().filter((call) => call.route === 'list').length;

describe('the 3.2 client and the token’s geolocation', () => {
  it('calls the geolocation the token names, and after a refused token and a new one from elsewhere, only that one', async () => {
    const auth = clientCredentialsGrant({ tokenUrl: `${tokenEndpoint.url}/oauth2/v0/token`, clientId: 'partner', clientSecret: 'secret' });
    // The configured instance is the token endpoint's host, which serves no connection requests.
    const client = new ConcurClient({ baseUrl: tokenEndpoint.url, auth, version: '3.2' });
    expect((await client.listAll({ limit: 10 })).map((r) => r.id)).toEqual(us.state.all().map((r) => r.id));
    expect(auth.geolocation?.()).toBe(us.url);
    expect([lists(us), lists(eu)]).toEqual([1, 0]);

    // The US centre refuses the token now (403); the next token comes from the EU centre.
    await fetch(`${us.url}/_sandbox/tokens/expire`, { method: 'POST' });
    issuing = eu;
    expect((await client.listAll({ limit: 10 })).map((r) => r.id)).toEqual(eu.state.all().map((r) => r.id));
    expect(auth.geolocation?.()).toBe(eu.url);
    // One refused call at the old geolocation, then the repeat (after exactly one new token) at the new one.
    expect(us.calls.list().filter((call) => call.route === 'list').map((call) => call.status)).toEqual([200, 403]);
    expect(lists(eu)).toBe(1);
    // A PUT follows the token too.
    const [first] = eu.state.all();
    await client.putStatus(first!.id, 'CRSUC');
    expect(eu.state.get(first!.id)!.status).toBe('Connected');
    expect(us.calls.list().some((call) => call.route === 'put')).toBe(false);
  });

  it('takes a static 3.2 token (no geolocation) to the configured instance', async () => {
    const token = (await (
      await fetch(`${us.url}/oauth2/v0/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: us.clientId, client_secret: us.clientSecret }),
      })
    ).json()) as { access_token: string };
    const client = new ConcurClient({
      baseUrl: us.url,
      auth: { authorization: async () => `Bearer ${token.access_token}`, renew: async () => false },
      version: '3.2',
    });
    expect(await client.listAll({ limit: 10 })).toHaveLength(3);
  });
});
