import { describe, expect, it } from 'vitest';
import { CR, inProcess, putXml, xml } from './helpers.js';

const EXCHANGE = '/net2/oauth2/getaccesstoken.ashx';

function exchangeUrl(code: string, clientId: string, clientSecret: string): string {
  return `${EXCHANGE}?${new URLSearchParams({ code, client_id: clientId, client_secret: clientSecret })}`;
}

describe('sandbox: request tokens (15 minutes) and the legacy exchange', () => {
  it('exchanges a token at 14:59 (→ Processing) and refuses one at 15:01 ("request token expired")', async () => {
    const { sb, call, clock, control } = inProcess();
    const { clientId, clientSecret } = sb.credentials;
    const early = sb.state.add();
    const late = sb.state.add();

    clock.advance(14 * 60_000 + 59_000);
    const ok = await call(exchangeUrl(early.requestToken, clientId, clientSecret));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/xml; charset=utf-8');
    const token = xml.parse(await ok.text()) as {
      Access_Token: { Instance_URL: string; Token: string; Expiration_Date: string; Refresh_Token: string };
    };
    expect(token.Access_Token.Instance_URL).toBe('http://concur.test/');
    expect(token.Access_Token.Token).toMatch(/^[A-Za-z0-9+/]{27}=$/);
    // One year later, in Concur's legacy format.
    expect(token.Access_Token.Expiration_Date).toBe('5/1/2025 12:14:59 PM');
    expect(token.Access_Token.Refresh_Token).toBeTruthy();
    expect(sb.state.get(early.id)!.status).toBe('Processing');

    clock.advance(2_000); // 15:01
    const expired = await call(exchangeUrl(late.requestToken, clientId, clientSecret));
    expect(expired.status).toBe(400);
    const error = xml.parse(await expired.text()) as { Error: { Message: string } };
    expect(error.Error.Message).toMatch(/request token expired/i);
    expect(sb.state.get(late.id)!.status).toBe('Pending');

    // The control API shows the expiry too.
    const { requests } = (await (await control('GET', '/requests')).json()) as {
      requests: Array<{ id: string; requestTokenExpired: boolean; requestTokenExpiresAt: string; status: string }>;
    };
    expect(requests.find((r) => r.id === late.id)).toMatchObject({
      requestTokenExpired: true,
      requestTokenExpiresAt: '2024-05-01T12:15:00.000Z',
      status: 'Pending',
    });
  });

  it('expiry is exactly 15 minutes: fresh at 14:59.999, expired at 15:00', async () => {
    const { sb, clock } = inProcess();
    const request = sb.state.add();
    clock.advance(15 * 60_000 - 1);
    expect(sb.state.isRequestTokenExpired(request)).toBe(false);
    clock.advance(1);
    expect(sb.state.isRequestTokenExpired(request)).toBe(true);
  });

  it('a CRRET gives the request a fresh 15 minutes, observable through the exchange', async () => {
    const { sb, call, clock } = inProcess();
    const { clientId, clientSecret } = sb.credentials;
    const request = sb.state.add();
    clock.advance(16 * 60_000);
    expect((await call(exchangeUrl(request.requestToken, clientId, clientSecret))).status).toBe(400);
    expect((await call(`${CR}/${request.id}`, putXml('CRRET'))).status).toBe(204);
    const renewed = sb.state.get(request.id)!.requestToken;
    clock.advance(14 * 60_000);
    expect((await call(exchangeUrl(renewed, clientId, clientSecret))).status).toBe(200);
  });

  it('a token works once, answers JSON when asked, and needs the client credentials', async () => {
    const { sb, call } = inProcess();
    const { clientId, clientSecret } = sb.credentials;
    const request = sb.state.add();
    const json = await call(exchangeUrl(request.requestToken, clientId, clientSecret), { headers: { Accept: 'application/json' } });
    expect(json.status).toBe(200);
    const body = (await json.json()) as { Access_Token: Record<string, string> };
    expect(Object.keys(body.Access_Token)).toEqual(['Instance_Url', 'Token', 'Expiration_date', 'Refresh_Token']);
    const again = await call(exchangeUrl(request.requestToken, clientId, clientSecret));
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('already been used');
    expect((await call(exchangeUrl('EPCYxQ1NRMTstK61XmbdZp7effas271', clientId, clientSecret))).status).toBe(400);
    expect((await call(exchangeUrl(sb.state.add().requestToken, clientId, 'wrong'))).status).toBe(401);
    expect((await call(`${EXCHANGE}?client_id=${clientId}&client_secret=${clientSecret}`)).status).toBe(400);
  });

  it('the exchange path is case-insensitive and its call log redacts code and client_secret', async () => {
    const { sb, call, control } = inProcess();
    const { clientId, clientSecret } = sb.credentials;
    const request = sb.state.add();
    const res = await call(`/NET2/OAuth2/GetAccessToken.ashx?code=${request.requestToken}&client_id=${clientId}&client_secret=${clientSecret}`);
    expect(res.status).toBe(200);
    const { calls } = (await (await control('GET', '/calls')).json()) as { calls: Array<{ query: Record<string, string>; route: string }> };
    expect(calls[0]!.route).toBe('exchange');
    expect(calls[0]!.query).toEqual({ code: '[redacted]', client_id: clientId, client_secret: '[redacted]' });
  });
});
