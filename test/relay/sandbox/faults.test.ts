import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { XMLValidator } from 'fast-xml-parser';
import { type RunningSandbox, startSandbox } from '../../../relay/sandbox/server.js';
import { GUID_UPPER, xml, xmlItems } from './helpers.js';

let sb: RunningSandbox;
const list = () => `${sb.url}/api/v3.0/common/connectionrequests`;
const auth = () => ({ Authorization: `OAuth ${sb.accessToken}` });

async function fault(spec: Record<string, unknown>): Promise<Response> {
  return fetch(`${sb.url}/_sandbox/faults`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(spec) });
}

beforeAll(async () => {
  sb = await startSandbox({ random: 11, seed: 3 });
});
afterAll(async () => {
  await sb.close();
});
afterEach(async () => {
  await fetch(`${sb.url}/_sandbox/faults`, { method: 'DELETE' });
  await fetch(`${sb.url}/_sandbox/reset`, { method: 'POST' });
});

describe('sandbox over HTTP: injected faults', () => {
  it('serves on 127.0.0.1 with a real port, absolute URIs from its own origin', async () => {
    expect(sb.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(list(), { headers: auth() });
    expect(res.status).toBe(200);
    const items = xmlItems(await res.text());
    expect(items).toHaveLength(3);
    expect(String(items[0]!.URI)).toBe(`${sb.url}/api/v3.0/common/connectionrequests/${String(items[0]!.ID)}`);
    expect(res.headers.get('concur-correlationid')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('status503 answers 503 with a Concur Error body, and times counts down', async () => {
    expect((await fault({ route: 'list', kind: 'status503', times: 2 })).status).toBe(201);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(list(), { headers: auth() });
      expect(res.status).toBe(503);
      const body = xml.parse(await res.text()) as { Error: { Message: string; Id: string } };
      expect(body.Error.Message).toMatch(/Service Unavailable/);
      expect(body.Error.Id).toMatch(GUID_UPPER);
    }
    expect((await fetch(list(), { headers: auth() })).status).toBe(200);
    const faults = (await (await fetch(`${sb.url}/_sandbox/faults`)).json()) as { faults: unknown[] };
    expect(faults.faults).toEqual([]);
  });

  it('status429 answers 429 with Retry-After (given, or 1 by default), in JSON when asked', async () => {
    await fault({ route: 'list', kind: 'status429', times: 1, retryAfterSeconds: 7 });
    const res = await fetch(list(), { headers: { ...auth(), Accept: 'application/json' } });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(((await res.json()) as { Error: { Message: string } }).Error.Message).toMatch(/Too Many Requests/);
    await fault({ route: 'any', kind: 'status429', times: 1 });
    const again = await fetch(list(), { headers: auth() });
    expect(again.status).toBe(429);
    expect(again.headers.get('retry-after')).toBe('1');
  });

  it('faults without times last until cleared; a fault on one route leaves the others alone', async () => {
    await fault({ route: 'put', kind: 'status503' });
    for (let i = 0; i < 3; i++) {
      const put = await fetch(`${list()}/whatever`, { method: 'PUT', headers: auth(), body: '<ConnectionRequest><Status>CRSUC</Status></ConnectionRequest>' });
      expect(put.status).toBe(503);
    }
    expect((await fetch(list(), { headers: auth() })).status).toBe(200);
    const cleared = (await (await fetch(`${sb.url}/_sandbox/faults`, { method: 'DELETE' })).json()) as { cleared: number };
    expect(cleared.cleared).toBe(1);
  });

  it('ratio hits an even, repeatable share of the matching calls (0.3: calls 4, 7, 10, 14, 17, 20)', async () => {
    await fault({ route: 'list', kind: 'status503', ratio: 0.3 });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await fetch(list(), { headers: auth() })).status);
    const hit = statuses.flatMap((status, i) => (status === 503 ? [i + 1] : []));
    expect(hit).toEqual([4, 7, 10, 14, 17, 20]);
    expect(statuses.filter((s) => s !== 503).every((s) => s === 200)).toBe(true);
    const [listed] = ((await (await fetch(`${sb.url}/_sandbox/faults`)).json()) as { faults: Array<Record<string, unknown>> }).faults;
    expect(listed).toMatchObject({ ratio: 0.3, hits: 6, seen: 20, remaining: null });
    expect((await fault({ route: 'list', kind: 'status503', ratio: 0 })).status).toBe(400);
    expect((await fault({ route: 'list', kind: 'status503', ratio: 1.5 })).status).toBe(400);
  });

  it('latency delays the answer, then answers normally', async () => {
    await fault({ route: 'get', kind: 'latency', latencyMs: 150, times: 1 });
    const [first] = sb.state.all();
    const started = performance.now();
    const res = await fetch(`${list()}/${first!.id}`, { headers: auth() });
    expect(res.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(await res.text()).toContain(first!.id);
  });

  it('latency stacks with a status fault', async () => {
    await fault({ route: 'list', kind: 'latency', latencyMs: 60, times: 1 });
    await fault({ route: 'list', kind: 'status503', times: 1 });
    const started = performance.now();
    expect((await fetch(list(), { headers: auth() })).status).toBe(503);
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);
  });

  it('malformed answers 200 with truncated XML', async () => {
    await fault({ route: 'list', kind: 'malformed', times: 1 });
    const res = await fetch(list(), { headers: auth() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/xml');
    const body = await res.text();
    expect(body.startsWith('<?xml version="1.0" encoding="utf-8"?><ConnectionRequests')).toBe(true);
    expect(XMLValidator.validate(body)).not.toBe(true);
  });

  it('error200 answers HTTP 200 with an <Error> body', async () => {
    await fault({ route: 'list', kind: 'error200', times: 1 });
    const res = await fetch(list(), { headers: auth() });
    expect(res.status).toBe(200);
    const body = xml.parse(await res.text()) as { Error?: { Message: string; Id: string } };
    expect(body.Error?.Message).toBeTruthy();
    expect(body.Error?.Id).toMatch(GUID_UPPER);
  });

  it('reset destroys the connection: fetch rejects', async () => {
    await fault({ route: 'list', kind: 'reset', times: 1 });
    await expect(fetch(list(), { headers: auth() })).rejects.toThrow();
    expect((await fetch(list(), { headers: auth() })).status).toBe(200);
  });

  it('hang never answers: a fetch with AbortSignal.timeout(300) aborts, and the sandbox lets go', async () => {
    await fault({ route: 'list', kind: 'hang', times: 1 });
    const started = performance.now();
    await expect(fetch(list(), { headers: auth(), signal: AbortSignal.timeout(300) })).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(performance.now() - started).toBeLessThan(2000);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const { calls } = (await (await fetch(`${sb.url}/_sandbox/calls`)).json()) as { calls: Array<{ fault: string | null; status: number | null }> };
    expect(calls.at(-1)).toMatchObject({ fault: 'hang', status: null });
  });

  it('token faults hit the OAuth endpoint (and the exchange), not the Connection Requests routes', async () => {
    await fault({ route: 'token', kind: 'status503', times: 2 });
    expect((await fetch(list(), { headers: auth() })).status).toBe(200);
    const res = await fetch(`${sb.url}/oauth2/v0/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: sb.clientId, client_secret: sb.clientSecret }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toContain('application/json');
    const exchange = await fetch(`${sb.url}/net2/oauth2/getaccesstoken.ashx?code=x&client_id=${sb.clientId}&client_secret=${sb.clientSecret}`);
    expect(exchange.status).toBe(503);
  });

  it('faults come before authentication (a 503 from maintenance needs no token)', async () => {
    await fault({ route: 'list', kind: 'status503', times: 1 });
    expect((await fetch(list())).status).toBe(503);
  });
});

describe('sandbox over HTTP: shutting down', () => {
  it('close() ends hanging requests and returns promptly', async () => {
    const local = await startSandbox({ seed: 1, demo: { everyMs: 20 } });
    await fetch(`${local.url}/_sandbox/faults`, { method: 'POST', body: JSON.stringify({ route: 'any', kind: 'hang' }) });
    const pending = fetch(`${local.url}/api/v3.0/common/connectionrequests`, { headers: { Authorization: `OAuth ${local.accessToken}` } }).then(
      () => 'answered',
      () => 'rejected',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await local.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await pending).toBe('rejected');
    // The demo timer stopped with it.
    const size = local.state.size;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(local.state.size).toBe(size);
    await expect(local.close()).resolves.toBeUndefined();
  });
});
