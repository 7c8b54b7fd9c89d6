import { describe, expect, it } from 'vitest';
import { CONCUR_TIME, CR, GUID_UPPER, inProcess, xml, xmlItems, xmlNextPage } from './helpers.js';

describe('sandbox: GET connectionrequests (list)', () => {
  it('pages 23 requests with limit 10 into 10 + 10 + 3, following absolute, opaque NextPage URLs', async () => {
    const { sb, call } = inProcess();
    sb.state.seed(23);
    const seen: string[] = [];
    let url: string | undefined = `${CR}?limit=10`;
    const pages: number[] = [];
    const nextPages: string[] = [];
    while (url) {
      const res = await call(url);
      expect(res.status).toBe(200);
      const body = await res.text();
      const items = xmlItems(body);
      pages.push(items.length);
      seen.push(...items.map((item) => String(item.ID)));
      const next = xmlNextPage(body);
      if (next) nextPages.push(next);
      url = next?.replace('http://concur.test', '');
      if (next) expect(next.startsWith('http://concur.test/api/v3.0/common/connectionrequests?')).toBe(true);
    }
    expect(pages).toEqual([10, 10, 3]);
    expect(nextPages).toHaveLength(2);
    expect(new Set(seen).size).toBe(23);
    for (const next of nextPages) {
      const offset = new URL(next).searchParams.get('offset') ?? '';
      // Opaque: a base64-ish token like the seed's nQ4hRgi9Q9uLj32rQWtgN3Mw, not a position.
      expect(offset).toMatch(/^[A-Za-z0-9]{24}$/);
      expect(new URL(next).searchParams.get('limit')).toBe('10');
    }
  });

  it('keeps its place when requests leave the list between pages (offsets point between items)', async () => {
    const { sb, call } = inProcess();
    const all = sb.state.seed(6);
    const first = await (await call(`${CR}?limit=3`)).text();
    const next = xmlNextPage(first);
    expect(next).toBeDefined();
    // The partner answers the first page; those three leave the pending list.
    for (const r of all.slice(0, 3)) sb.state.reply(r.id, 'CRSUC');
    const second = xmlItems(await (await call(new URL(next ?? '').pathname + new URL(next ?? '').search)).text());
    expect(second.map((i) => i.ID)).toEqual(all.slice(3).map((r) => r.id));
  });

  it('answers 5 by default, clamps limits above 10 to 10, and omits NextPage on the last page', async () => {
    const { sb, call } = inProcess();
    sb.state.seed(12);
    expect(xmlItems(await (await call(CR)).text())).toHaveLength(5);
    // Those five were handed out, so they are Processing now (seed, Example 4): the same list of
    // every request still pending has the other seven.
    expect(xmlItems(await (await call(`${CR}?limit=50`)).text())).toHaveLength(7);
    const clamped = await (await call(`${CR}?limit=50&status=processing`)).text();
    expect(xmlItems(clamped)).toHaveLength(10);
    expect(new URL(xmlNextPage(clamped) ?? '').searchParams.get('limit')).toBe('10');
    const all = await (await call(`${CR}?limit=10&status=processing&offset=${new URL(xmlNextPage(clamped) ?? '').searchParams.get('offset')}`)).text();
    expect(xmlItems(all)).toHaveLength(2);
    expect(xmlNextPage(all)).toBeUndefined();
    expect(all).not.toContain('NextPage');
  });

  it('the limits hold the same with the quirk that keeps requests Pending until the exchange', async () => {
    const { sb, call, control } = inProcess();
    await control('PUT', '/quirks', { processing: 'exchange' });
    sb.state.seed(12);
    expect(xmlItems(await (await call(CR)).text())).toHaveLength(5);
    const clamped = await (await call(`${CR}?limit=50`)).text();
    expect(xmlItems(clamped)).toHaveLength(10);
    expect(new URL(xmlNextPage(clamped) ?? '').searchParams.get('limit')).toBe('10');
    const all = await (await call(`${CR}?limit=10&offset=${new URL(xmlNextPage(clamped) ?? '').searchParams.get('offset')}`)).text();
    expect(xmlItems(all)).toHaveLength(2);
    expect(xmlNextPage(all)).toBeUndefined();
    expect(all).not.toContain('NextPage');
  });

  it('exactly a full last page has no NextPage', async () => {
    const { sb, call } = inProcess();
    sb.state.seed(10);
    const body = await (await call(`${CR}?limit=10`)).text();
    expect(xmlItems(body)).toHaveLength(10);
    expect(xmlNextPage(body)).toBeUndefined();
  });

  it('refuses limits above 10 when overLimit is reject (option or quirk)', async () => {
    const { sb, call, control } = inProcess({ overLimit: 'reject' });
    sb.state.seed(3);
    expect((await call(`${CR}?limit=11`)).status).toBe(400);
    expect((await call(`${CR}?limit=10`)).status).toBe(200);
    await control('PUT', '/quirks', { overLimit: 'clamp' });
    expect((await call(`${CR}?limit=11`)).status).toBe(200);
  });

  it.each(['0', '-1', 'abc', '2.5', '1e3', '99999999999'])('limit=%s → 400 Error', async (limit) => {
    const { call } = inProcess();
    const res = await call(`${CR}?limit=${limit}`);
    expect(res.status).toBe(400);
    const body = xml.parse(await res.text()) as { Error: { Message: string } };
    expect(body.Error.Message).toContain('limit');
  });

  it('an empty limit or offset is the default', async () => {
    const { sb, call } = inProcess();
    sb.state.seed(7);
    expect(xmlItems(await (await call(`${CR}?limit=&offset=`)).text())).toHaveLength(5);
  });

  it.each(['garbled', 'nQ4hRgi9Q9uLj32rQWtgN3Mw', '5'])('an offset it never issued (%s) → 400 Error', async (offset) => {
    const { sb, call } = inProcess();
    sb.state.seed(3);
    const res = await call(`${CR}?offset=${offset}`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('offset');
  });

  it('filters by status, case-insensitively, with Pending as the default; Retry = pending after a CRRET', async () => {
    const { sb, call, control } = inProcess();
    const [a, b, c, d, e] = Array.from({ length: 5 }, () => sb.state.add());
    sb.state.reply(a!.id, 'CRSUC');
    sb.state.reply(b!.id, 'CREU1');
    expect(sb.state.exchange(c!.requestToken).ok).toBe(true);
    sb.state.reply(d!.id, 'CRRET');
    const ids = async (query: string) => xmlItems(await (await call(`${CR}${query}`)).text()).map((i) => i.ID);
    // Each list hands its requests' tokens out, which makes them Processing (seed, Example 4): the
    // quirk that keeps that for the exchange lets the same list be read in every spelling.
    await control('PUT', '/quirks', { processing: 'exchange' });
    expect(await ids('')).toEqual([d!.id, e!.id]);
    expect(await ids('?status=pending')).toEqual([d!.id, e!.id]);
    expect(await ids('?status=PENDING')).toEqual([d!.id, e!.id]);
    expect(await ids('?Status=Connected')).toEqual([a!.id]);
    expect(await ids('?status=failed')).toEqual([b!.id]);
    expect(await ids('?status=Processing')).toEqual([c!.id]);
    expect(await ids('?status=Retry')).toEqual([d!.id]);
    expect(await ids('?status=CRRET')).toEqual([d!.id]);
    const bad = await call(`${CR}?status=CRSUC`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('Pending, Processing, Connected, Failed, Retry');
  });

  it('keeps the status filter in NextPage when the caller gave one', async () => {
    const { sb, call } = inProcess();
    sb.state.seed(3);
    const next = xmlNextPage(await (await call(`${CR}?status=pending&limit=1`)).text());
    expect(new URL(next ?? '').searchParams.get('status')).toBe('Pending');
  });

  it('matches the path case-insensitively and tolerates a trailing slash; IDs stay case-sensitive', async () => {
    const { sb, call } = inProcess();
    const [one] = sb.state.seed(1);
    // Pending until the first list hands its token out, Processing after (seed, Example 4).
    const lists = [
      ['/api/v3.0/Common/ConnectionRequests', 'Pending'],
      ['/API/V3.0/COMMON/CONNECTIONREQUESTS/', 'Processing'],
      [CR, 'Processing'],
    ] as const;
    for (const [path, status] of lists) {
      const res = await call(`${path}?status=${status}`);
      expect(res.status, path).toBe(200);
      expect(xmlItems(await res.text())).toHaveLength(1);
    }
    expect((await call(`/api/v3.0/Common/ConnectionRequests/${one!.id}`)).status).toBe(200);
    expect((await call(`${CR}/${one!.id.toLowerCase()}`)).status).toBe(404);
  });

  it('answers XML by default, also for a GET with Content-Type: application/xml and no Accept', async () => {
    const { sb, call } = inProcess();
    sb.state.seed(2);
    const variants: Array<Record<string, string>> = [{}, { 'Content-Type': 'application/xml' }, { Accept: 'application/xml' }, { Accept: '*/*' }];
    for (const headers of variants) {
      const res = await call(CR, { headers });
      expect(res.headers.get('content-type')).toBe('application/xml; charset=utf-8');
      const body = await res.text();
      expect(body).toMatch(/^<\?xml version="1.0" encoding="utf-8"\?><ConnectionRequests xmlns:xsd=/);
    }
  });

  it('answers JSON to Accept: application/json, with NextPage null at the end', async () => {
    const { sb, call } = inProcess();
    sb.state.seed(3);
    const res = await call(`${CR}?limit=2`, { headers: { Accept: 'application/json' } });
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const page = (await res.json()) as { Items: Array<Record<string, unknown>>; NextPage: string | null };
    expect(page.Items).toHaveLength(2);
    expect(Object.keys(page.Items[0]!)).toEqual([
      'ID', 'URI', 'FirstName', 'MiddleName', 'LastName', 'LoyaltyNumber', 'Status', 'DiscountCode', 'RequestToken', 'Message', 'LastModified',
    ]);
    expect(page.NextPage).toMatch(/^http:\/\/concur\.test\/api\/v3\.0\/common\/connectionrequests\?offset=/);
    const last = (await (await call(new URL(page.NextPage ?? '').pathname + new URL(page.NextPage ?? '').search, {
      headers: { Accept: 'application/json' },
    })).json()) as { Items: unknown[]; NextPage: string | null };
    expect(last.Items).toHaveLength(1);
    expect(last.NextPage).toBeNull();
    // Weights count: XML preferred over JSON.
    const xmlPreferred = await call(CR, { headers: { Accept: 'application/json;q=0.5, application/xml' } });
    expect(xmlPreferred.headers.get('content-type')).toContain('xml');
  });

  it('serves v3.2 with camelCase fields, userId, and v3.2 URIs', async () => {
    const { sb, call } = inProcess();
    const [one] = sb.state.seed(2);
    const res = await call('/api/v3.2/common/connectionrequests?limit=1', { headers: { Accept: 'application/json' } });
    const page = (await res.json()) as { Items: Array<Record<string, unknown>>; NextPage: string };
    const item = page.Items[0]!;
    expect(item.firstName).toBe(one!.firstName);
    expect(item.userId).toBe(one!.userId);
    expect(item.URI).toBe(`http://concur.test/api/v3.2/common/connectionrequests/${one!.id}`);
    // 3.2's queue: an integer offset, in the documented form of its NextPage.
    expect(page.NextPage).toBe('http://concur.test/api/v3.2/common/connectionrequests/?limit=1&offset=1');
    const xmlBody = await (await call('/api/v3.2/common/connectionrequests/' + one!.id)).text();
    expect(xmlBody).toContain('<firstName>');
    expect(xmlBody).toContain('<userId>');
  });

  it('writes records as the seed does: URIs from the caller origin, nil vs empty, Concur times', async () => {
    const { sb, call } = inProcess();
    sb.state.add({ id: 'nVkXk0j3Yzk4LosUofRwPOvndJDo', firstName: 'Maria', middleName: '', lastName: 'Smith', loyaltyNumber: '23242526', discountCode: null });
    const body = await (await call(CR)).text();
    expect(body).toContain('<ID>nVkXk0j3Yzk4LosUofRwPOvndJDo</ID>');
    expect(body).toContain('<URI>http://concur.test/api/v3.0/common/connectionrequests/nVkXk0j3Yzk4LosUofRwPOvndJDo</URI>');
    expect(body).toContain('<MiddleName />');
    expect(body).toContain('<DiscountCode xsi:nil="true" />');
    expect(body).toContain('<LastModified>2024-05-01T12:00:00</LastModified>');
  });

  it('GET by id answers the bare record, or 404 with an Error body', async () => {
    const { sb, call } = inProcess();
    const [one] = sb.state.seed(1);
    const ok = await (await call(`${CR}/${one!.id}`)).text();
    expect(ok).toMatch(/^<\?xml version="1.0" encoding="utf-8"\?><ConnectionRequest xmlns:xsd=/);
    expect(ok).toContain(`<ID>${one!.id}</ID>`);
    const json = (await (await call(`${CR}/${one!.id}`, { headers: { Accept: 'application/json' } })).json()) as Record<string, unknown>;
    expect(json.ID).toBe(one!.id);
    const missing = await call(`${CR}/nope`);
    expect(missing.status).toBe(404);
    const error = xml.parse(await missing.text()) as { Error: { Message: string; 'Server-Time': string; Id: string } };
    expect(error.Error.Message).toContain('nope');
    expect(error.Error['Server-Time']).toMatch(CONCUR_TIME);
    expect(error.Error.Id).toMatch(GUID_UPPER);
  });

  it('answers 405 to methods Concur does not serve, and a Concur 404 to unknown paths', async () => {
    const { call } = inProcess();
    expect((await call(CR, { method: 'POST' })).status).toBe(405);
    expect((await call(`${CR}/x`, { method: 'DELETE' })).status).toBe(405);
    const res = await call('/api/v3.0/common/nothing', { headers: { Accept: 'application/json' } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { Error: { Message: string } }).Error.Message).toBeTruthy();
  });
});

describe('sandbox: Processing once Concur has generated the request token (seed, Example 4)', () => {
  const statusOf = (body: string) => xmlItems(body).map((i) => [i.ID, i.Status]);

  it('a list hands the token out: that answer still says Pending, later ones list it under status=processing only', async () => {
    const { sb, call } = inProcess();
    const [a, b] = [sb.state.add(), sb.state.add()];
    expect(statusOf(await (await call(`${CR}?limit=1`)).text())).toEqual([[a.id, 'Pending']]);
    expect(a.status).toBe('Processing');
    // The pending list no longer shows it, before anyone answered it; Example 4's list does.
    expect(statusOf(await (await call(CR)).text())).toEqual([[b.id, 'Pending']]);
    expect(statusOf(await (await call(`${CR}?status=processing`)).text())).toEqual([
      [a.id, 'Processing'],
      [b.id, 'Processing'],
    ]);
    // Its token was handed out, not used: the exchange still takes it, once.
    expect(sb.state.exchange(a.requestToken).ok).toBe(true);
    expect(sb.state.exchange(a.requestToken)).toMatchObject({ ok: false, reason: 'used' });
    expect(a.status).toBe('Processing');
  });

  it('a GET by id hands it out too; a CRRET’s new token is Pending again until a list hands that one out', async () => {
    const { sb, call } = inProcess();
    const r = sb.state.add();
    const one = xml.parse(await (await call(`${CR}/${r.id}`)).text()) as { ConnectionRequest: { Status: string } };
    expect(one.ConnectionRequest.Status).toBe('Pending');
    expect(r.status).toBe('Processing');
    expect(sb.state.reply(r.id, 'CRRET').ok).toBe(true);
    expect(r.status).toBe('Pending');
    const replied = r.lastModified;
    expect(statusOf(await (await call(CR)).text())).toEqual([[r.id, 'Pending']]);
    expect(r.status).toBe('Processing');
    // Handing a token out is no change to the request: LastModified stays the reply's.
    expect(r.lastModified).toBe(replied);
    // Still a request with a retry behind it: the Retry list has it, Processing or not.
    expect(statusOf(await (await call(`${CR}?status=Retry`)).text())).toEqual([[r.id, 'Processing']]);
  });

  it('the `processing: exchange` quirk (the older reading): lists leave it Pending, the exchange moves it', async () => {
    const { sb, call, control } = inProcess();
    await control('PUT', '/quirks', { processing: 'exchange' });
    const r = sb.state.add();
    await call(CR);
    await call(`${CR}/${r.id}`);
    expect(r.status).toBe('Pending');
    expect(statusOf(await (await call(CR)).text())).toEqual([[r.id, 'Pending']]);
    expect(sb.state.exchange(r.requestToken).ok).toBe(true);
    expect(r.status).toBe('Processing');
  });
});
