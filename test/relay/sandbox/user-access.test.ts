import { describe, expect, it } from 'vitest';
import { CR, type OverHttp, grantsOf, httpSandbox, legacyExchange, passwordGrant, xml } from './helpers.js';

/**
 * Which token opens which door, over real HTTP: the traveller's User API, the Connection Requests
 * routes (the app's token only; an OAuth 2.0 JWT only as Bearer), and the calls log's verdicts.
 */

const h = httpSandbox();
const USER_API = '/api/user/v1.0/User';
const FORBIDDEN = 'Forbidden. Please check your Instance URL and OAuth token.';

const auth = (value: string) => ({ headers: { Authorization: value, Accept: 'application/json' } });

async function verdicts(x: OverHttp): Promise<Array<[unknown, unknown, unknown]>> {
  const { calls } = (await (await x.control('GET', '/calls')).json()) as { calls: Array<Record<string, unknown>> };
  return calls.filter((c) => c.route === 'user' || c.route === 'list').map((c) => [c.route, c.auth, c.status]);
}

async function appJwt(x: OverHttp): Promise<string> {
  const body = (await (await x.token({ grant_type: 'client_credentials' })).json()) as { access_token: string };
  return body.access_token;
}

describe('sandbox: GET /api/user/v1.0/User, the traveller behind a token', () => {
  it("answers the traveller's UserProfile in XML (the User API's example shape) for a Bearer JWT", async () => {
    const x = h();
    const request = await x.addRequest({ firstName: 'Zoë', middleName: 'Émilie', lastName: "O'Neill" });
    const tokens = await passwordGrant(x, request);
    const res = await x.fetch(USER_API, { headers: { Authorization: `Bearer ${String(tokens.access_token)}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/xml; charset=utf-8');
    const text = await res.text();
    expect(text).toContain('<UserProfile xmlns="https://www.concursolutions.com/api/user/2011/02" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">');
    const profile = (xml.parse(text) as { UserProfile: Record<string, string> }).UserProfile;
    expect(profile).toMatchObject({ LoginId: request.userId, FirstName: 'Zoë', LastName: "O'Neill", Mi: 'É', EmpId: request.userId, Active: 'Y' });
  });

  it('takes a legacy traveller token as OAuth or Bearer, answers JSON when asked, and the path in any case with a trailing /', async () => {
    const x = h();
    const request = await x.addRequest({ firstName: 'Ann', middleName: null, lastName: 'Lee' });
    const legacy = await legacyExchange(x, request.requestToken);
    for (const [path, scheme] of [[USER_API, 'OAuth'], ['/API/User/v1.0/user/', 'Bearer']] as const) {
      const res = await x.fetch(path, auth(`${scheme} ${legacy.Token}`));
      expect(res.status, `${scheme} ${path}`).toBe(200);
      expect(await res.json()).toEqual({ LoginId: request.userId, FirstName: 'Ann', LastName: 'Lee', Mi: null, EmpId: request.userId, Active: 'Y' });
    }
    expect((await x.fetch(`${USER_API}?loginID=${request.userId}`, auth(`OAuth ${legacy.Token}`))).status).toBe(200);
    // Someone else's profile needs an administrator's role, which a traveller has not.
    expect((await x.fetch(`${USER_API}?loginID=someone-else`, auth(`OAuth ${legacy.Token}`))).status).toBe(403);
  });

  it("refuses the app's tokens, an OAuth 2.0 JWT sent as OAuth, unknown and missing tokens", async () => {
    const x = h();
    const tokens = await passwordGrant(x, await x.addRequest());
    const jwt = await appJwt(x);
    for (const header of [`OAuth ${x.sb.accessToken}`, `Bearer ${x.sb.accessToken}`, `Bearer ${jwt}`, `OAuth ${String(tokens.access_token)}`, 'Bearer nope']) {
      const res = await x.fetch(USER_API, auth(header));
      expect(res.status, header.slice(0, 12)).toBe(403);
      expect(((await res.json()) as { Error: { Message: string } }).Error.Message).toBe(FORBIDDEN);
    }
    expect((await x.fetch(USER_API)).status).toBe(401);
    expect(await verdicts(x)).toEqual([
      ['user', 'app_token', 403],
      ['user', 'app_token', 403],
      ['user', 'app_token', 403],
      ['user', 'oauth_jwt', 403],
      ['user', 'unknown', 403],
      ['user', 'missing', 401],
    ]);
  });

  it('refuses an expired traveller token (sandbox clock) and one expired by POST /_sandbox/tokens/expire', async () => {
    const x = h();
    const a = await x.addRequest();
    const b = await x.addRequest();
    const ta = await passwordGrant(x, a);
    const tb = await legacyExchange(x, b.requestToken);
    const expired = await x.control('POST', '/tokens/expire', { userId: a.userId });
    expect(await expired.json()).toEqual({ expired: 1 });
    expect((await x.fetch(USER_API, auth(`Bearer ${String(ta.access_token)}`))).status).toBe(403);
    expect((await x.fetch(USER_API, auth(`OAuth ${tb.Token}`))).status).toBe(200);
    // The legacy token's year runs out like any other.
    x.clock.advance(365 * 24 * 3600_000);
    expect((await x.fetch(USER_API, auth(`OAuth ${tb.Token}`))).status).toBe(403);
    expect((await verdicts(x)).map(([, verdict]) => verdict)).toEqual(['expired', 'ok', 'expired']);
  });
});

describe('sandbox: the Connection Requests routes take the app, not a traveller', () => {
  it('the static token works as OAuth and Bearer; an OAuth 2.0 JWT only as Bearer (OAuth <jwt> is 403)', async () => {
    const x = h();
    const jwt = await appJwt(x);
    expect((await x.fetch(CR, auth(`OAuth ${x.sb.accessToken}`))).status).toBe(200);
    expect((await x.fetch(CR, auth(`Bearer ${x.sb.accessToken}`))).status).toBe(200);
    expect((await x.fetch(CR, auth(`Bearer ${jwt}`))).status).toBe(200);
    const refused = await x.fetch(CR, auth(`OAuth ${jwt}`));
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { Error: { Message: string } }).Error.Message).toBe(FORBIDDEN);
    // The same goes for the app's token from the refresh grant, and for any scheme spelling.
    const refreshed = (await (await x.token({ grant_type: 'refresh_token', refresh_token: x.sb.refreshToken })).json()) as { access_token: string };
    expect((await x.fetch(CR, auth(`oauth ${refreshed.access_token}`))).status).toBe(403);
    expect((await x.fetch(CR, auth(`bearer ${refreshed.access_token}`))).status).toBe(200);
    expect((await verdicts(x)).map(([, verdict, status]) => [verdict, status])).toEqual([
      ['ok', 200],
      ['ok', 200],
      ['ok', 200],
      ['oauth_jwt', 403],
      ['oauth_jwt', 403],
      ['ok', 200],
    ]);
  });

  it("refuses a traveller's tokens, either form and either scheme, live or not", async () => {
    const x = h();
    const oauth = await passwordGrant(x, await x.addRequest());
    const legacy = await legacyExchange(x, (await x.addRequest()).requestToken);
    for (const header of [`Bearer ${String(oauth.access_token)}`, `OAuth ${legacy.Token}`, `Bearer ${legacy.Token}`]) {
      expect((await x.fetch(CR, auth(header))).status, header.slice(0, 12)).toBe(403);
    }
    for (const path of [`${CR}/anything`, '/api/v3.2/common/connectionrequests']) {
      expect((await x.fetch(path, auth(`OAuth ${legacy.Token}`))).status).toBe(403);
    }
    expect((await verdicts(x)).map(([, verdict]) => verdict)).toEqual(['user_token', 'user_token', 'user_token', 'user_token']);
  });
});
