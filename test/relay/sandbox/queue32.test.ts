import { afterEach, describe, expect, it } from 'vitest';
import { REQUEST_TOKEN_TTL_MS, RETRY_LIMITS } from '../../../shared/status.js';
import { type InProcess, inProcess, xml } from './helpers.js';

/**
 * The sandbox as API 3.2 (`/api/v3.2/…`): a queue read by integer position that a PUT pops, CRRET
 * requeued after an hour and CREU1/2/3 after a day on the sandbox clock, each with its limit
 * (48 and 4), then Failed and never returned again. Read with plain JSON.parse and the sandbox's
 * own call path: nothing of the relay's.
 */

const Q = '/api/v3.2/common/connectionrequests';
const HOUR = 60 * 60 * 1000;

type Item = Record<string, unknown> & { ID: string; requestToken: string; status: string };
type Page = { Items: Item[]; NextPage: string | null };

let h: InProcess;
afterEach(() => h.sb.close());

async function page(query = ''): Promise<Page> {
  const res = await h.call(`${Q}/${query}`, { headers: { Accept: 'application/json' } });
  expect(res.status).toBe(200);
  return (await res.json()) as Page;
}

async function ids(): Promise<string[]> {
  return (await page('?limit=10')).Items.map((item) => item.ID);
}

function put(id: string, status: string): Promise<Response> {
  return h.call(`${Q}/${id}`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ status }) });
}

describe('sandbox: API 3.2’s queue', () => {
  it('pages by integer offset, with NextPage as its example writes it and null at the end (XML: none)', async () => {
    h = inProcess({ ids: 'guid' });
    h.sb.state.seed(5);
    const first = await page('?limit=2');
    expect(first.NextPage).toBe('http://concur.test/api/v3.2/common/connectionrequests/?limit=2&offset=2');
    expect((await page('?limit=2&offset=2')).NextPage).toBe('http://concur.test/api/v3.2/common/connectionrequests/?limit=2&offset=4');
    const last = await page('?limit=2&offset=4');
    expect(last.Items).toHaveLength(1);
    expect(last.NextPage).toBeNull();
    const body = await (await h.call(`${Q}?limit=2&offset=4`)).text();
    expect(xml.parse(body).ConnectionRequests.NextPage).toBeUndefined();
    // Concur's 3.2 IDs are GUIDs.
    expect(first.Items[0]!.ID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('refuses an offset that is not a position, 3.0’s opaque ones included', async () => {
    h = inProcess();
    h.sb.state.seed(3);
    const opaque = new URL((await h.call('/api/v3.0/common/connectionrequests?limit=1').then((r) => r.text())).match(/offset=([^&<]+)/)![0], 'http://x');
    for (const offset of ['abc', '-1', '1.5', opaque.searchParams.get('offset')!]) {
      const res = await h.call(`${Q}?offset=${encodeURIComponent(offset)}`, { headers: { Accept: 'application/json' } });
      expect(res.status, offset).toBe(400);
      expect(((await res.json()) as { Error: { Message: string } }).Error.Message).toBe(`The value '${offset}' is not valid for offset.`);
    }
  });

  it('writes 3.2’s fields: userId, five e-mail slots, nulls, no discountCode or message; Processing shows as Pending', async () => {
    h = inProcess();
    const request = h.sb.state.add({ emailAddresses: ['ada@example.com'], discountCode: 'CORP' });
    h.sb.state.exchange(request.requestToken);
    expect(request.status).toBe('Processing');
    const [item] = (await page()).Items;
    expect(item).toMatchObject({ ID: request.id, userId: request.userId, status: 'Pending' });
    expect(item!.emailAddresses).toEqual({ email1: 'ada@example.com', email2: null, email3: null, email4: null, email5: null });
    expect(item).not.toHaveProperty('discountCode');
    expect(item).not.toHaveProperty('message');
  });

  it('a PUT pops its request: what came after it moves one place to the left', async () => {
    h = inProcess();
    h.sb.state.seed(4);
    const [a, b, c, d] = await ids();
    expect((await page('?limit=2&offset=2')).Items.map((i) => i.ID)).toEqual([c, d]);
    expect((await put(a!, 'CRSUC')).status).toBe(204);
    // The same offset now starts one request later: a client that reused it would skip c.
    expect((await page('?limit=2&offset=2')).Items.map((i) => i.ID)).toEqual([d]);
    expect(await ids()).toEqual([b, c, d]);
    expect(h.sb.state.get(a!)!.status).toBe('Connected');
  });

  it('requeues after CRRET an hour later on the sandbox clock, with a new request token that lives from then', async () => {
    h = inProcess();
    const request = h.sb.state.add();
    const before = request.requestToken;
    expect((await put(request.id, 'CRRET')).status).toBe(204);
    expect(await ids()).toEqual([]);
    // Popped: a PUT meanwhile is refused, and says when it is back.
    const again = await put(request.id, 'CRSUC');
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('is not in the queue; it is returned again at 2024-05-01T13:00:00.000Z');
    h.clock.advance(HOUR - 1000);
    expect(await ids()).toEqual([]);
    h.clock.advance(1000);
    const [item] = (await page()).Items;
    expect(item).toMatchObject({ ID: request.id, status: 'Pending' });
    expect(item!.requestToken).not.toBe(before);
    expect(h.sb.state.view(request)).toMatchObject({ retries: 1, poppedUntil: null, requestTokenExpired: false });
    h.clock.advance(REQUEST_TOKEN_TTL_MS);
    expect(h.sb.state.isRequestTokenExpired(request)).toBe(true);
  });

  it('a popped request read by id: Pending, with the token it comes back with (the read-back sees it); that token is no good until then', async () => {
    h = inProcess();
    const request = h.sb.state.add();
    const before = request.requestToken;
    expect((await put(request.id, 'CREU2')).status).toBe(204);
    const shown = (await (await h.call(`${Q}/${request.id}`, { headers: { Accept: 'application/json' } })).json()) as Item;
    expect(shown).toMatchObject({ ID: request.id, status: 'Pending' });
    expect(shown.requestToken).not.toBe(before);
    // Not issued yet: no exchange takes it, and it does not move the popped request.
    expect(h.sb.state.exchange(shown.requestToken)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(h.sb.state.exchange(before)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(h.sb.state.view(request)).toMatchObject({ status: 'Pending', requestTokenUsed: false, poppedUntil: expect.any(String) });
    h.clock.advance(24 * HOUR);
    expect(h.sb.state.exchange(shown.requestToken)).toMatchObject({ ok: true });
  });

  it('takes 48 CRRETs; the 49th fails the request for good (still a 204), and it is never returned again', async () => {
    h = inProcess();
    const request = h.sb.state.add({ retries: RETRY_LIMITS['3.2'].CRRET - 1 });
    expect((await put(request.id, 'CRRET')).status).toBe(204);
    h.clock.advance(HOUR);
    expect(await ids()).toEqual([request.id]);
    expect(h.sb.state.view(request).retries).toBe(48);
    expect((await put(request.id, 'CRRET')).status).toBe(204);
    expect(request.status).toBe('Failed');
    h.clock.advance(48 * HOUR);
    expect(await ids()).toEqual([]);
  });

  it('requeues after a CREU code a day later, four times; the fifth fails it for good', async () => {
    h = inProcess();
    const request = h.sb.state.add();
    for (const [n, code] of (['CREU1', 'CREU2', 'CREU3', 'CREU1'] as const).entries()) {
      expect((await put(request.id, code)).status).toBe(204);
      h.clock.advance(24 * HOUR - 1000);
      expect(await ids(), `after ${code}`).toEqual([]);
      h.clock.advance(1000);
      expect(await ids(), `a day after ${code}`).toEqual([request.id]);
      // The list that showed it again handed its new token out: Processing (3.2 writes it as Pending).
      expect(h.sb.state.view(request)).toMatchObject({ userErrors: n + 1, status: 'Processing', lastReply: code });
    }
    expect((await put(request.id, 'CREU2')).status).toBe(204);
    expect(request.status).toBe('Failed');
    h.clock.advance(30 * 24 * HOUR);
    expect(await ids()).toEqual([]);
  });

  it('quirk requestTokenLifetime 24h: a token lives a day (3.2’s page), not 15 minutes (its Swagger, the default)', async () => {
    h = inProcess();
    const request = h.sb.state.add();
    h.clock.advance(REQUEST_TOKEN_TTL_MS);
    expect(h.sb.state.exchange(request.requestToken)).toMatchObject({ ok: false, reason: 'expired', message: 'The request token expired: it was issued more than 15 minutes ago.' });
    expect((await h.control('PUT', '/quirks', { requestTokenLifetime: '24h' })).status).toBe(200);
    expect(h.sb.state.view(request)).toMatchObject({ requestTokenExpired: false, requestTokenExpiresAt: '2024-05-02T12:00:00.000Z' });
    h.clock.advance(24 * HOUR - REQUEST_TOKEN_TTL_MS);
    expect(h.sb.state.exchange(request.requestToken)).toMatchObject({ ok: false, message: 'The request token expired: it was issued more than 24 hours ago.' });
  });

  it('quirk tokenOnGet: every 3.2 list hands out a new token for each request on its page, and the one before stops working', async () => {
    h = inProcess();
    h.sb.state.seed(3);
    expect((await h.control('PUT', '/quirks', { tokenOnGet: true })).status).toBe(200);
    const first = (await page('?limit=2')).Items;
    const second = (await page('?limit=2')).Items;
    expect(second.map((i) => i.ID)).toEqual(first.map((i) => i.ID));
    for (const [i, item] of second.entries()) expect(item.requestToken).not.toBe(first[i]!.requestToken);
    expect(h.sb.state.exchange(first[0]!.requestToken)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(h.sb.state.exchange(second[0]!.requestToken)).toMatchObject({ ok: true });
    // Off by default: the same token twice.
    h.sb.reset({ seed: 3 });
    expect((await page()).Items[0]!.requestToken).toBe((await page()).Items[0]!.requestToken);
  });

  it('keeps 3.0’s rules on the 3.0 path: a CREU fails at once, the 6th CRRET fails', async () => {
    h = inProcess();
    const creu = h.sb.state.add();
    expect((await h.call(`/api/v3.0/common/connectionrequests/${creu.id}`, { method: 'PUT', headers: { 'Content-Type': 'application/xml' }, body: '<ConnectionRequest><Status>CREU1</Status></ConnectionRequest>' })).status).toBe(204);
    expect(creu.status).toBe('Failed');
    const crret = h.sb.state.add({ retries: 5 });
    expect((await h.call(`/api/v3.0/common/connectionrequests/${crret.id}`, { method: 'PUT', headers: { 'Content-Type': 'application/xml' }, body: '<ConnectionRequest><Status>CRRET</Status></ConnectionRequest>' })).status).toBe(204);
    expect(crret.status).toBe('Failed');
  });
});
