import { describe, expect, it } from 'vitest';
import { MAX_RETRIES, REQUEST_TOKEN_TTL_MS } from '../../../shared/status.js';
import { CR, GUID_UPPER, inProcess, putXml, xml } from './helpers.js';

const SEED_PUT_BODY = (status: string, id: string) => `
    <ConnectionRequest xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
        <ID>${id}</ID>
        <URI> https://www.concursolutions.com/api/v3.0/common/connectionrequests/${id}</URI>
        <FirstName>Maria</FirstName>
        <MiddleName />
        <LastName>Smith</LastName>
        <LoyaltyNumber>23242526</LoyaltyNumber>
        <DiscountCode xsi:nil="true" />
        <Status>${status}</Status>
        <RequestToken>EPCYxQ1NRMTstK61XmbdZp7effas271</RequestToken>
        <Message />
        <LastModified>2014-04-29T23:19:03</LastModified>
    </ConnectionRequest>`;

describe('sandbox: PUT connectionrequests/{id} (replies and transitions)', () => {
  it.each([
    ['CRSUC', 'Connected'],
    ['CREU1', 'Failed'],
    ['CREU2', 'Failed'],
    ['CREU3', 'Failed'],
    ['CRPA1', 'Failed'],
    ['CRPA2', 'Failed'],
  ] as const)('%s moves a pending request to %s, stamping lastModified with the clock', async (code, state) => {
    const { sb, call, clock } = inProcess();
    const request = sb.state.add();
    clock.advance(90_000);
    const res = await call(`${CR}/${request.id}`, putXml(code));
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    const after = sb.state.get(request.id)!;
    expect(after.status).toBe(state);
    expect(after.lastReply).toBe(code);
    expect(after.lastModified).toBe(clock.now());
  });

  it('CRRET puts the request back to Pending with a new request token (fresh 15 minutes) and retries + 1', async () => {
    const { sb, call, clock } = inProcess();
    const request = sb.state.add();
    const oldToken = request.requestToken;
    clock.advance(20 * 60_000); // the old token has expired
    expect(sb.state.isRequestTokenExpired(request)).toBe(true);
    expect((await call(`${CR}/${request.id}`, putXml('CRRET'))).status).toBe(204);
    const after = sb.state.get(request.id)!;
    expect(after.status).toBe('Pending');
    expect(after.retries).toBe(1);
    expect(after.requestToken).not.toBe(oldToken);
    expect(after.requestToken).toMatch(/^[A-Za-z0-9]{31}$/);
    expect(after.requestTokenIssuedAt).toBe(clock.now());
    expect(sb.state.requestTokenExpiresAt(after)).toBe(clock.now() + REQUEST_TOKEN_TTL_MS);
    expect(sb.state.exchange(oldToken).ok).toBe(false);
    expect(sb.state.exchange(after.requestToken).ok).toBe(true);
  });

  it(`allows ${MAX_RETRIES} retries; the next CRRET answers 204 but moves the request to Failed`, async () => {
    const { sb, call } = inProcess();
    const request = sb.state.add();
    for (let i = 1; i <= MAX_RETRIES; i++) {
      expect((await call(`${CR}/${request.id}`, putXml('CRRET'))).status).toBe(204);
      expect(sb.state.get(request.id)).toMatchObject({ status: 'Pending', retries: i });
    }
    const tokenBefore = sb.state.get(request.id)!.requestToken;
    expect((await call(`${CR}/${request.id}`, putXml('CRRET'))).status).toBe(204);
    expect(sb.state.get(request.id)).toMatchObject({ status: 'Failed', retries: MAX_RETRIES, requestToken: tokenBefore });
    const again = await call(`${CR}/${request.id}`, putXml('CRRET'));
    expect(again.status).toBe(400);
  });

  it.each(['Connected', 'Failed'] as const)('refuses any reply to a request that is already %s (400, clear Message)', async (status) => {
    const { sb, call } = inProcess();
    const request = sb.state.add({ status });
    const res = await call(`${CR}/${request.id}`, putXml('CRSUC'));
    expect(res.status).toBe(400);
    const body = xml.parse(await res.text()) as { Error: { Message: string; Id: string } };
    expect(body.Error.Message).toBe(`Connection request ${request.id} is already ${status}; its status can no longer be changed.`);
    expect(body.Error.Id).toMatch(GUID_UPPER);
  });

  it('accepts replies to a Processing request (after the token exchange)', async () => {
    const { sb, call } = inProcess();
    const request = sb.state.add();
    sb.state.exchange(request.requestToken);
    expect(sb.state.get(request.id)!.status).toBe('Processing');
    expect((await call(`${CR}/${request.id}`, putXml('CRSUC'))).status).toBe(204);
    expect(sb.state.get(request.id)!.status).toBe('Connected');
  });

  it('accepts the seed full-object body, namespace prefixes, v3.2 <status>, and JSON bodies', async () => {
    const { sb, call } = inProcess();
    const bodies: Array<[RequestInit, string]> = [
      [{ method: 'PUT', headers: { 'Content-Type': 'application/xml' }, body: SEED_PUT_BODY('CRSUC', 'x') }, 'Connected'],
      [
        {
          method: 'PUT',
          headers: { 'Content-Type': 'text/xml' },
          body: '<?xml version="1.0"?><cr:ConnectionRequest xmlns:cr="urn:concur"><cr:Status>CREU2</cr:Status></cr:ConnectionRequest>',
        },
        'Failed',
      ],
      [{ method: 'PUT', headers: { 'Content-Type': 'application/xml' }, body: '<ConnectionRequest><status>crsuc</status></ConnectionRequest>' }, 'Connected'],
      [{ method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{"Status":"CRSUC"}' }, 'Connected'],
      [{ method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{"status": "CREU3"}' }, 'Failed'],
      [{ method: 'PUT', body: '  {"status":"CRSUC","message":"hi"}' }, 'Connected'],
      [{ method: 'PUT', body: '<ConnectionRequest><Message>ok</Message><Status>CRPA2</Status></ConnectionRequest>' }, 'Failed'],
    ];
    for (const [init, status] of bodies) {
      const request = sb.state.add();
      const res = await call(`${CR}/${request.id}`, init);
      expect(res.status, String(init.body)).toBe(204);
      expect(sb.state.get(request.id)!.status).toBe(status);
    }
  });

  it.each([
    ['no body', '', 'application/xml', 'empty'],
    ['no Status', '<ConnectionRequest><Message /></ConnectionRequest>', 'application/xml', 'no Status'],
    ['empty Status', '<ConnectionRequest><Status /></ConnectionRequest>', 'application/xml', 'no Status'],
    ['a Concur state (Pending)', '<ConnectionRequest><Status>Pending</Status></ConnectionRequest>', 'application/xml', "'Pending' is not valid"],
    ['a Concur state (Connected)', '{"Status":"Connected"}', 'application/json', "'Connected' is not valid"],
    ['Retry (a filter, not a code)', '<ConnectionRequest><Status>Retry</Status></ConnectionRequest>', 'application/xml', 'not valid'],
    ['an unknown code', '{"status":"CRXYZ"}', 'application/json', 'CRSUC'],
    ['broken XML', '<ConnectionRequest><Status>CRSUC</Status>', 'application/xml', 'error in XML document'],
    ['broken JSON', '{"Status":', 'application/json', 'not valid JSON'],
    ['a JSON array', '["CRSUC"]', 'application/json', 'JSON object'],
    ['another root', '<Request><Status>CRSUC</Status></Request>', 'application/xml', '<ConnectionRequest>'],
    [
      'a DOCTYPE',
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "CRSUC">]><ConnectionRequest><Status>&a;</Status></ConnectionRequest>',
      'application/xml',
      'DTD',
    ],
  ])('refuses %s with 400', async (_name, body, type, message) => {
    const { sb, call } = inProcess();
    const request = sb.state.add();
    const res = await call(`${CR}/${request.id}`, { method: 'PUT', headers: { 'Content-Type': type }, body });
    expect(res.status).toBe(400);
    const error = xml.parse(await res.text()) as { Error: { Message: string } };
    expect(error.Error.Message).toContain(message);
    expect(sb.state.get(request.id)!.status).toBe('Pending');
  });

  it('refuses a body over 64 KiB', async () => {
    const { sb, call } = inProcess();
    const request = sb.state.add();
    const body = `<ConnectionRequest><Message>${'x'.repeat(70_000)}</Message><Status>CRSUC</Status></ConnectionRequest>`;
    const res = await call(`${CR}/${request.id}`, { method: 'PUT', headers: { 'Content-Type': 'application/xml' }, body });
    expect(res.status).toBe(400);
  });

  it('answers 404 for an unknown id, in JSON when asked', async () => {
    const { call } = inProcess();
    const res = await call(`${CR}/nVkXk0j3Yzk4LosUofRwPOvndJDo`, {
      ...putXml('CRSUC'),
      headers: { 'Content-Type': 'application/xml', Accept: 'application/json' },
    });
    expect(res.status).toBe(404);
    const body = (await res.json()) as { Error: { Message: string; 'Server-Time': string; Id: string } };
    expect(body.Error.Message).toContain('nVkXk0j3Yzk4LosUofRwPOvndJDo');
    expect(body.Error.Id).toMatch(GUID_UPPER);
  });

  it('serves PUT on v3.2 with the JSON body of its example', async () => {
    const { sb, call } = inProcess();
    const request = sb.state.add();
    const res = await call(`/api/v3.2/common/connectionrequests/${request.id}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${sb.credentials.accessToken}` },
      body: JSON.stringify({ status: 'CRSUC' }),
    });
    expect(res.status).toBe(204);
  });
});
