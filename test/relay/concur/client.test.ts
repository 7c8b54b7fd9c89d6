import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { refreshTokenGrant, staticToken, type TokenProvider } from '../../../relay/concur/auth.js';
import { ConcurClient } from '../../../relay/concur/client.js';
import { ConcurError, type ConcurErrorKind } from '../../../relay/concur/errors.js';
import { ManualClock } from '../../../relay/sandbox/clock.js';
import type { FaultSpec } from '../../../relay/sandbox/faults.js';
import { startSandbox, type RunningSandbox } from '../../../relay/sandbox/server.js';
import { concurFailure } from '../../helpers/concur.js';

let sandbox: RunningSandbox;
let clock: ManualClock;

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 10, 28, 9, 0, 0));
  // These tests read the same requests again and again (formats, tokens): the sandbox keeps them
  // Pending meanwhile, as its older reading does; the seed's (Processing once a list handed the
  // token out) is the poller's to handle (ingest/poller.processing.test.ts).
  sandbox = await startSandbox({ clock, seed: false, random: 42, accessTokenTtlSeconds: 600, quirks: { processing: 'exchange' } });
});
afterEach(() => sandbox.close());

function client(auth: TokenProvider = staticToken(sandbox.accessToken), timeoutMs = 2000) {
  return new ConcurClient({ baseUrl: sandbox.url, auth, timeoutMs });
}

function fault(spec: FaultSpec) {
  sandbox.faults.add(spec);
}

describe('Concur client against the sandbox', () => {
  it('brings back 23 requests over pages of 10 whole, following NextPage', async () => {
    const added = Array.from({ length: 23 }, () => sandbox.state.add());
    const all = await client().listAll({ limit: 10 });
    expect(all.map((r) => r.id).sort()).toEqual(added.map((r) => r.id).sort());
    expect(new Set(all.map((r) => r.id)).size).toBe(23);
    const lists = sandbox.calls.list().filter((c) => c.route === 'list');
    expect(lists).toHaveLength(3);
    expect(lists.slice(1).every((c) => c.query.offset !== undefined)).toBe(true);
  });

  it('a request Concur sends that the relay refuses fails the walk at its page: the pages before it are handed over', async () => {
    const added = Array.from({ length: 25 }, (_, i) => sandbox.state.add(i === 14 ? { firstName: 'N'.repeat(300) } : {}));
    const seen: string[] = [];
    const walked = (async () => {
      for await (const page of client().pages({ status: 'Pending', limit: 10 })) seen.push(...page.items.map((r) => r.id));
    })();
    const err = await concurFailure(walked);
    expect(err.kind).toBe('bad_response');
    expect(err.message).toContain(`connection request ${added[14]!.id} is invalid`);
    expect(seen).toEqual(added.slice(0, 10).map((r) => r.id));
  });

  it('reads every field of a request as the sandbox holds it, token included', async () => {
    const [made] = [sandbox.state.add({ firstName: 'Renée', lastName: "D'Amico", middleName: '' })];
    const got = await client().get(made!.id);
    expect(got).toMatchObject({ id: made!.id, firstName: 'Renée', lastName: "D'Amico", middleName: '', status: 'Pending' });
    expect(got.requestToken).toBe(sandbox.state.get(made!.id)!.requestToken);
    expect(got.lastModified).toMatch(/Z$/);
  });

  it('reads the same data in JSON, v3.2 camelCase and with the seed quirks', async () => {
    Array.from({ length: 7 }, () => sandbox.state.add());
    const expected = await client().listAll({ limit: 10 });
    const json = await new ConcurClient({ baseUrl: sandbox.url, auth: staticToken(sandbox.accessToken), accept: 'json' }).listAll({ limit: 10 });
    expect(json).toEqual(expected);
    Object.assign(sandbox.quirks, { version: '3.2', statusCase: 'upper' });
    // 3.2 adds userId and the e-mail addresses, and has no discountCode or message any more.
    expect(await client().listAll({ limit: 10 })).toEqual(
      expected.map((r) => {
        const kept = sandbox.state.get(r.id)!;
        return { ...r, userId: kept.userId, emailAddresses: kept.emailAddresses, discountCode: null, message: null };
      }),
    );
    expect(expected.every((r) => r.userId === null && r.emailAddresses.length === 0)).toBe(true);
  });

  it('sends a status reply as a PUT that Concur applies', async () => {
    const made = sandbox.state.add();
    await client().putStatus(made.id, 'CRSUC');
    const put = sandbox.calls.list().find((c) => c.route === 'put');
    expect(put).toMatchObject({ method: 'PUT', requestId: made.id, putStatus: 'CRSUC', status: 204, authScheme: 'OAuth' });
    expect(sandbox.state.get(made.id)!.status).toBe('Connected');
  });

  it('uses the Bearer scheme when told to', async () => {
    await client(staticToken(sandbox.accessToken, 'Bearer')).listPage();
    expect(sandbox.calls.list()[0]!.authScheme).toBe('Bearer');
  });

  const cases: Array<[string, () => Promise<unknown>, ConcurErrorKind, (e: ConcurError) => void]> = [
    ['a refused token (403)', () => client(staticToken('not-a-token')).listPage(), 'unauthorized', (e) => expect(e.status).toBe(403)],
    [
      'a missing Authorization header (401)',
      () => client({ authorization: async () => '', renew: async () => false }).listPage(),
      'unauthorized',
      (e) => expect(e.status).toBe(401),
    ],
    ['an unknown id (404)', () => client().get('nVkXk0j3Yzk4LosUofRwPOvndJDo'), 'not_found', (e) => expect(e.concurMessage).toBeTruthy()],
    [
      'a rate limit (429)',
      async () => (fault({ route: 'list', kind: 'status429', retryAfterSeconds: 7 }), client().listPage()),
      'rate_limited',
      (e) => expect(e.retryAfterSeconds).toBe(7),
    ],
    [
      'maintenance (503)',
      async () => (fault({ route: 'list', kind: 'status503' }), client().listPage()),
      'unavailable',
      (e) => expect(e.transient).toBe(true),
    ],
    [
      'malformed XML (200)',
      async () => (fault({ route: 'list', kind: 'malformed' }), client().listPage()),
      'bad_response',
      (e) => expect(e.message).toMatch(/XML/),
    ],
    [
      'an <Error> body with HTTP 200',
      async () => (fault({ route: 'list', kind: 'error200' }), client().listPage()),
      'concur_error',
      (e) => {
        expect(e.concurMessage).toBeTruthy();
        expect(e.concurId).toBeTruthy();
      },
    ],
    [
      'a reply to a request that is already connected (400)',
      async () => {
        const made = sandbox.state.add();
        await client().putStatus(made.id, 'CRSUC');
        return client().putStatus(made.id, 'CREU1');
      },
      'concur_error',
      (e) => {
        expect(e.status).toBe(400);
        expect(e.concurMessage).toMatch(/Connected/);
      },
    ],
    [
      'a connection reset',
      async () => (fault({ route: 'list', kind: 'reset' }), client().listPage()),
      'unavailable',
      (e) => expect(e.message).toMatch(/could not reach Concur/),
    ],
    [
      'a Concur that never answers',
      async () => (fault({ route: 'list', kind: 'hang' }), client(undefined, 300).listPage()),
      'timeout',
      (e) => expect(e.message).toMatch(/0.3 s/),
    ],
  ];

  it.each(cases)('maps %s to its typed error', async (_name, call, kind, check) => {
    const err = await concurFailure(call());
    expect(err.kind).toBe(kind);
    check(err);
  });
});

describe('OAuth 2.0 refresh-token grant', () => {
  function grant(onRefreshToken?: (t: string) => void) {
    return refreshTokenGrant({
      tokenUrl: `${sandbox.url}/oauth2/v0/token`,
      clientId: sandbox.clientId,
      clientSecret: sandbox.clientSecret,
      refreshToken: sandbox.refreshToken,
      now: () => clock.now(),
      onRefreshToken,
    });
  }

  const grants = () => sandbox.calls.list().filter((c) => c.route === 'token');

  it('renews an access token before it expires, without the caller noticing', async () => {
    sandbox.state.add();
    const rotated: string[] = [];
    const concur = client(grant((t) => rotated.push(t)));
    expect(await concur.listAll()).toHaveLength(1);
    clock.advance(599_000); // inside the last minute of a 10-minute token
    expect(await concur.listAll()).toHaveLength(1);
    expect(grants()).toHaveLength(2);
    expect(sandbox.calls.list().filter((c) => c.route === 'list').every((c) => c.status === 200)).toBe(true);
    expect(rotated).toHaveLength(2);
    expect(rotated[0]).not.toBe(sandbox.refreshToken);
  });

  it('refreshes once more when Concur refuses a token it has revoked', async () => {
    sandbox.state.add();
    const concur = client(grant());
    await concur.listAll();
    sandbox.auth.expireAll();
    expect(await concur.listAll()).toHaveLength(1);
    expect(grants()).toHaveLength(2);
    const lists = sandbox.calls.list().filter((c) => c.route === 'list').map((c) => c.status);
    expect(lists).toEqual([200, 403, 200]);
  });

  it('shares one refresh between concurrent calls (a rotated refresh token works once)', async () => {
    sandbox.state.add();
    const concur = client(grant());
    await Promise.all([concur.listAll(), concur.listAll(), concur.listAll()]);
    expect(grants()).toHaveLength(1);
  });

  it('uses a static token given beside the grant first, and the grant once Concur refuses it', async () => {
    sandbox.state.add();
    const concur = client(
      refreshTokenGrant({
        tokenUrl: `${sandbox.url}/oauth2/v0/token`,
        clientId: sandbox.clientId,
        clientSecret: sandbox.clientSecret,
        refreshToken: sandbox.refreshToken,
        now: () => clock.now(),
        initial: { token: sandbox.accessToken, scheme: 'OAuth' },
      }),
    );
    expect(await concur.listAll()).toHaveLength(1);
    expect(grants()).toHaveLength(0);
    sandbox.auth.expireAll({ includeStatic: true });
    expect(await concur.listAll()).toHaveLength(1);
    expect(grants()).toHaveLength(1);
    const lists = sandbox.calls.list().filter((c) => c.route === 'list').map((c) => [c.authScheme, c.status]);
    expect(lists).toEqual([['OAuth', 200], ['OAuth', 403], ['Bearer', 200]]);
  });

  it('reports unauthorized when the refresh token is refused', async () => {
    const concur = client(
      refreshTokenGrant({
        tokenUrl: `${sandbox.url}/oauth2/v0/token`,
        clientId: sandbox.clientId,
        clientSecret: sandbox.clientSecret,
        refreshToken: 'not-a-refresh-token',
        now: () => clock.now(),
      }),
    );
    const err = await concurFailure(concur.listPage());
    expect(err.kind).toBe('unauthorized');
    expect(err.message).toMatch(/invalid_grant/);
    expect(err.message).not.toContain('not-a-refresh-token');
  });
});
