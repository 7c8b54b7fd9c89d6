import { describe, expect, it } from 'vitest';
import { createSandbox } from '../../../relay/sandbox/app.js';
import { ManualClock } from '../../../relay/sandbox/clock.js';
import { CR, T0, inProcess, putXml, xml, xmlItems } from './helpers.js';

type Json = Record<string, unknown>;

describe('sandbox control API: requests', () => {
  it('POST /_sandbox/requests adds one request from partial fields, generating the rest', async () => {
    const { control } = inProcess();
    const res = await control('POST', '/requests', { firstName: 'Zoë', lastName: 'Ó Briain', loyaltyNumber: '00123456', discountCode: null });
    expect(res.status).toBe(201);
    const { requests } = (await res.json()) as { requests: Json[] };
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      firstName: 'Zoë',
      lastName: 'Ó Briain',
      loyaltyNumber: '00123456',
      discountCode: null,
      status: 'Pending',
      retries: 0,
      lastModified: '2024-05-01T12:00:00.000Z',
      requestTokenExpiresAt: '2024-05-01T12:15:00.000Z',
      requestTokenExpired: false,
    });
    expect(requests[0]!.id).toMatch(/^[A-Za-z0-9]{28}$/);
    expect(requests[0]!.requestToken).toMatch(/^[A-Za-z0-9]{31}$/);
  });

  it('adds many: a list of partial requests, or {count}', async () => {
    const { control, sb } = inProcess();
    const listed = (await (await control('POST', '/requests', [{ id: 'a1' }, { id: 'a2', status: 'connected', retries: 2 }])).json()) as { requests: Json[] };
    expect(listed.requests.map((r) => [r.id, r.status, r.retries])).toEqual([
      ['a1', 'Pending', 0],
      ['a2', 'Connected', 2],
    ]);
    const counted = (await (await control('POST', '/requests', { count: 23 })).json()) as { requests: Json[] };
    expect(counted.requests).toHaveLength(23);
    expect(sb.state.size).toBe(25);
    const all = (await (await control('GET', '/requests')).json()) as { now: string; requests: Json[] };
    expect(all.now).toBe('2024-05-01T12:00:00.000Z');
    expect(all.requests).toHaveLength(25);
    const one = (await (await control('GET', '/requests/a2')).json()) as { request: Json };
    expect(one.request.status).toBe('Connected');
    expect((await control('GET', '/requests/zzz')).status).toBe(404);
  });

  it('an old lastModified gives an already-expired request token', async () => {
    const { control } = inProcess();
    const { requests } = (await (await control('POST', '/requests', { lastModified: '2024-05-01T11:40:00Z' })).json()) as { requests: Json[] };
    expect(requests[0]).toMatchObject({ requestTokenExpired: true, requestTokenExpiresAt: '2024-05-01T11:55:00.000Z' });
  });

  it.each([
    ['an unknown field', { firstName: 'A', shoeSize: 44 }, 'shoeSize'],
    ['a bad status', { status: 'CRSUC' }, 'status'],
    ['too many retries', { retries: 49 }, 'retries'],
    ['a bad id', { id: 'has spaces' }, 'id'],
    ['a bad time', { lastModified: 'yesterday' }, 'lastModified'],
    ['a zero count', { count: 0 }, 'count'],
    ['an empty list', [], 'expected array to have >=1 items'],
    ['a bad item in a list', [{ id: 'ok' }, { retries: -1 }], 'retries'],
    ['a number', 5, 'expected object'],
  ])('refuses %s with 400 and a readable message', async (_name, body, mention) => {
    const { control, sb } = inProcess();
    const res = await control('POST', '/requests', body);
    expect(res.status).toBe(400);
    const error = (await res.json()) as { error: { code: string; message: string } };
    expect(error.error.code).toBe('invalid_body');
    expect(error.error.message.toLowerCase()).toContain(mention.toLowerCase());
    expect(sb.state.size).toBe(0);
  });

  it('refuses bodies that are not JSON, and duplicate ids (409)', async () => {
    const { control } = inProcess();
    expect((await control('POST', '/requests', '{nope')).status).toBe(400);
    expect((await control('POST', '/requests', '')).status).toBe(400);
    await control('POST', '/requests', { id: 'dup' });
    const dup = await control('POST', '/requests', { id: 'dup' });
    expect(dup.status).toBe(409);
    expect((await control('POST', '/requests', [{ id: 'x' }, { id: 'x' }])).status).toBe(409);
  });

  it('unknown control routes answer a JSON 404', async () => {
    const { control } = inProcess();
    const res = await control('GET', '/nothing');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});

describe('sandbox control API: calls, clock, quirks, faults, reset', () => {
  it('GET /_sandbox/calls lists every Concur call (method, path, query, status, scheme, PUT status, id); DELETE clears it', async () => {
    const { sb, call, control } = inProcess();
    const request = sb.state.add();
    await call('/api/v3.0/Common/ConnectionRequests?status=pending&limit=2');
    await call(`${CR}/${request.id}`, putXml('CREU2'));
    await call(`${CR}/${request.id}`, { method: 'PUT', headers: { Authorization: `Bearer ${sb.credentials.accessToken}` }, body: '{"status":"Pending"}' });
    const { calls } = (await (await control('GET', '/calls')).json()) as { calls: Json[] };
    expect(calls).toHaveLength(3);
    expect(calls[0]).toMatchObject({
      method: 'GET',
      path: '/api/v3.0/Common/ConnectionRequests',
      query: { status: 'pending', limit: '2' },
      route: 'list',
      status: 200,
      authScheme: 'OAuth',
      format: 'xml',
      at: '2024-05-01T12:00:00.000Z',
    });
    expect(calls[1]).toMatchObject({ method: 'PUT', route: 'put', status: 204, putStatus: 'CREU2', requestId: request.id });
    expect(calls[2]).toMatchObject({ route: 'put', status: 400, putStatus: 'Pending', authScheme: 'Bearer' });
    expect(JSON.stringify(calls)).not.toContain(sb.credentials.accessToken);
    expect(await (await control('DELETE', '/calls')).json()).toEqual({ cleared: 3 });
    expect(((await (await control('GET', '/calls')).json()) as { calls: Json[] }).calls).toEqual([]);
  });

  it('POST /_sandbox/clock advances an injected ManualClock', async () => {
    const { sb, control, clock } = inProcess();
    const request = sb.state.add();
    const res = await control('POST', '/clock', { advanceSeconds: 901 });
    expect(await res.json()).toEqual({ now: '2024-05-01T12:15:01.000Z' });
    expect(clock.now()).toBe(T0 + 901_000);
    expect(sb.state.isRequestTokenExpired(request)).toBe(true);
    for (const bad of [{}, { advanceSeconds: -1 }, { advanceSeconds: 'soon' }, { advanceSeconds: 1, extra: true }]) {
      expect((await control('POST', '/clock', bad)).status).toBe(400);
    }
  });

  it('POST /_sandbox/clock keeps its own offset over any other clock', async () => {
    const sb = createSandbox({ seed: false, clock: { now: () => T0 } });
    const res = await sb.app.request('/_sandbox/clock', { method: 'POST', body: JSON.stringify({ advanceSeconds: 60 }) });
    expect(await res.json()).toEqual({ now: '2024-05-01T12:01:00.000Z' });
    expect(sb.clock.now()).toBe(T0 + 60_000);
    sb.close();
  });

  it('PUT /_sandbox/quirks: bare roots, status case, forced version; validated', async () => {
    const { sb, call, control } = inProcess();
    sb.state.add({ id: 'one' });
    sb.state.add({ id: 'two' });
    // `processing: 'exchange'` keeps them Pending when listed, so each list below shows both.
    const set = await control('PUT', '/quirks', { bareRoot: true, statusCase: 'lower', processing: 'exchange' });
    expect(await set.json()).toEqual({
      quirks: {
        bareRoot: true,
        statusCase: 'lower',
        version: null,
        overLimit: 'clamp',
        repeatReplies: 'refuse',
        expiresIn: null,
        legacyRefreshToken: 'echo',
        appMgmtDeleteStatus: 200,
        requestTokenLifetime: '15m',
        tokenOnGet: false,
        processing: 'exchange',
      },
    });
    const bare = await (await call(CR)).text();
    expect(bare.startsWith('<ConnectionRequest xmlns:xsd=')).toBe(true);
    expect(bare).not.toContain('<ConnectionRequests');
    expect(bare).toContain('<Status>pending</Status>');
    expect(bare.match(/<ConnectionRequest /g)).toHaveLength(2);

    await control('PUT', '/quirks', { bareRoot: false, statusCase: 'upper', version: '3.2' });
    const forced = await (await call(CR)).text();
    expect(forced).toContain('<status>PENDING</status>');
    expect(forced).toContain('<firstName>');
    const single = await (await call(`${CR}/one`)).text();
    expect(single).toContain('<status>PENDING</status>');

    await control('PUT', '/quirks', { version: null, statusCase: 'as-is' });
    expect(xmlItems(await (await call(CR)).text())[0]).toMatchObject({ Status: 'Pending' });

    for (const bad of [{ statusCase: 'title' }, { version: '3.1' }, { bareRoot: 'yes' }, { colour: 'red' }]) {
      const res = await control('PUT', '/quirks', bad);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message.length).toBeGreaterThan(0);
    }
  });

  it('POST /_sandbox/faults validates its body', async () => {
    const { control } = inProcess();
    for (const bad of [
      {},
      { route: 'list' },
      { route: 'everything', kind: 'hang' },
      { route: 'list', kind: 'explode' },
      { route: 'list', kind: 'hang', times: 0 },
      { route: 'list', kind: 'status429', retryAfterSeconds: -5 },
      { route: 'list', kind: 'latency', latencyMs: 1.5 },
      { route: 'list', kind: 'hang', why: 'because' },
    ]) {
      const res = await control('POST', '/faults', bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
    const ok = await control('POST', '/faults', { route: 'any', kind: 'latency', latencyMs: 5, times: 3 });
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as { fault: Json }).fault).toMatchObject({ id: 1, route: 'any', kind: 'latency', remaining: 3, hits: 0 });
    expect(((await (await control('GET', '/faults')).json()) as { faults: Json[] }).faults).toHaveLength(1);
  });

  it('POST /_sandbox/reset goes back to the seeded queue and clears calls, faults and quirks', async () => {
    const clock = new ManualClock(T0);
    const sb = createSandbox({ clock, random: 99, seed: 4 });
    const before = sb.state.all().map((r) => r.id);
    const req = (method: string, path: string, body?: unknown) =>
      sb.app.request(`http://concur.test${path}`, {
        method,
        headers: { Authorization: `OAuth ${sb.credentials.accessToken}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    await req('POST', '/_sandbox/requests', { count: 3 });
    await req('PUT', '/_sandbox/quirks', { bareRoot: true });
    await req('POST', '/_sandbox/faults', { route: 'get', kind: 'status503' });
    await req('GET', CR);
    const reset = await req('POST', '/_sandbox/reset');
    expect(await reset.json()).toEqual({ requests: 4 });
    expect(sb.state.all().map((r) => r.id)).toEqual(before);
    expect(sb.calls.list()).toEqual([]);
    expect(sb.faults.list()).toEqual([]);
    expect(sb.quirks.bareRoot).toBe(false);
    expect(await (await req('POST', '/_sandbox/reset', { seed: 0 })).json()).toEqual({ requests: 0 });
    expect((await req('POST', '/_sandbox/reset', { seed: -1 })).status).toBe(400);
    sb.close();
  });

  it('GET /_sandbox describes the sandbox', async () => {
    const { control } = inProcess();
    const info = (await (await control('GET', '')).json()) as Json;
    expect(info).toMatchObject({ now: '2024-05-01T12:00:00.000Z', randomSeed: 7, requests: 0, maxLimit: 10 });
  });
});

describe('sandbox: seeded data and demo mode', () => {
  it('seeds a dozen realistic pending requests by default, deterministically for a given seed', () => {
    const a = createSandbox({ clock: new ManualClock(T0), random: 1234 });
    const b = createSandbox({ clock: new ManualClock(T0), random: 1234 });
    const c = createSandbox({ clock: new ManualClock(T0), random: 4321 });
    expect(a.state.size).toBe(12);
    const strip = (sb: typeof a) => sb.state.all().map((r) => sb.state.view(r));
    expect(strip(a)).toEqual(strip(b));
    expect(strip(a)).not.toEqual(strip(c));
    for (const request of a.state.all()) {
      expect(request.id).toMatch(/^[A-Za-z0-9]{28}$/);
      expect(request.requestToken).toMatch(/^[A-Za-z0-9]{31}$/);
      expect(request.loyaltyNumber).toMatch(/^\d{8}$/);
      expect(request.status).toBe('Pending');
      expect(request.lastModified).toBeLessThanOrEqual(T0);
      expect(request.lastModified).toBeGreaterThan(T0 - 6 * 3600_000 - 1000);
    }
    // Oldest first, like a queue.
    const times = a.state.all().map((r) => r.lastModified);
    expect([...times].sort((x, y) => x - y)).toEqual(times);
    for (const sb of [a, b, c]) sb.close();
  });

  it('over many requests: accents and apostrophes, leading zeros, empty and nil middle names, nil discount codes, fresh and expired tokens', () => {
    const sb = createSandbox({ clock: new ManualClock(T0), random: 5, seed: 200 });
    const all = sb.state.all();
    const names = all.map((r) => `${r.firstName} ${r.lastName}`);
    expect(names.some((n) => n.includes("'"))).toBe(true);
    expect(names.some((n) => /[^\x00-\x7F]/.test(n))).toBe(true);
    expect(all.some((r) => r.loyaltyNumber?.startsWith('0'))).toBe(true);
    expect(all.some((r) => r.middleName === '')).toBe(true);
    expect(all.some((r) => r.middleName === null)).toBe(true);
    expect(all.some((r) => r.middleName !== null && r.middleName !== '')).toBe(true);
    expect(all.some((r) => r.discountCode === null)).toBe(true);
    expect(all.some((r) => r.discountCode !== null)).toBe(true);
    expect(all.some((r) => sb.state.isRequestTokenExpired(r))).toBe(true);
    expect(all.some((r) => !sb.state.isRequestTokenExpired(r))).toBe(true);
    sb.close();
  });

  it('writes accented names and apostrophes intact in XML and JSON', async () => {
    const { sb, call } = inProcess();
    sb.state.add({ firstName: 'Renée', lastName: "D'Amico & Søn <Ltd>" });
    const item = xmlItems(await (await call(CR)).text())[0]!;
    expect(item.FirstName).toBe('Renée');
    // The first list handed the request out: it is Processing now (seed, Example 4).
    const raw = await (await call(`${CR}?status=processing`)).text();
    expect(raw).toContain("<LastName>D'Amico &amp; Søn &lt;Ltd&gt;</LastName>");
    expect(xml.parse(raw)).toBeTruthy();
    const json = (await (await call(`${CR}?status=processing`, { headers: { Accept: 'application/json' } })).json()) as { Items: Json[] };
    expect(json.Items[0]!.LastName).toBe("D'Amico & Søn <Ltd>");
  });

  it('demo mode adds a pending request every everyMs until close()', async () => {
    const sb = createSandbox({ seed: false, demo: { everyMs: 20 } });
    await new Promise((resolve) => setTimeout(resolve, 130));
    const grown = sb.state.size;
    expect(grown).toBeGreaterThanOrEqual(3);
    expect(sb.state.all().every((r) => r.status === 'Pending')).toBe(true);
    sb.close();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(sb.state.size).toBe(grown);
  });

  it('refuses nonsense options', () => {
    expect(() => createSandbox({ seed: -2 })).toThrow(RangeError);
    expect(() => createSandbox({ maxLimit: 0 })).toThrow(RangeError);
    expect(() => createSandbox({ demo: { everyMs: 0 } })).toThrow(RangeError);
  });
});
