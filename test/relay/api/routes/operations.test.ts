import { afterEach, describe, expect, it } from 'vitest';
import { Health } from '../../../../shared/models.js';
import type { Store, StoreParts } from '../../../../relay/store/index.js';
import { withParts, type StoreOverrides } from '../../store/helpers.js';
import { API_KEY, ApiServer, AUTH, errorOf, expectNoSecrets, record } from '../helpers.js';

let s: ApiServer;
afterEach(async () => {
  expectNoSecrets(s);
  await s.stop();
});

/** The store with some methods replaced. */
const withStore = (overrides: StoreOverrides) => (store: Store) => withParts(store, overrides);

describe('GET /healthz', () => {
  it('answers 200 {"status":"ok","poller":true} without a key: a relay alone on its database polls', async () => {
    s = await new ApiServer().start();
    const answer = await s.get('/healthz', {});
    expect(answer.status).toBe(200);
    expect(Health.parse(answer.json)).toEqual({ status: 'ok', poller: true });
    expect(answer.json).toEqual({ status: 'ok', poller: true });
  });

  it('says "poller":false for a relay that is not the one polling, healthy or not', async () => {
    let polling = false;
    s = await new ApiServer().start({ deps: { poller: { isPolling: () => polling } } });
    expect((await s.get('/healthz', {})).json).toEqual({ status: 'ok', poller: false });
    // Asked at every call: a relay that takes over polling says so at once.
    polling = true;
    expect((await s.get('/healthz', {})).json).toEqual({ status: 'ok', poller: true });
    polling = false;
    s.store.close();
    const closed = await s.get('/healthz', {});
    expect(closed.status).toBe(503);
    expect(closed.json).toEqual({ status: 'unavailable', poller: false, reason: 'the database is closed' });
  });

  it('answers 503 with the vault\'s reason once the relay stopped sealing (a rotation it was left out of)', async () => {
    const vault = { fenced: null as string | null };
    s = await new ApiServer().start({ deps: { vault } });
    expect((await s.get('/healthz', {})).status).toBe(200);
    vault.fenced = 'the vault was rotated to key 9c04e1b7, which this relay was not given';
    const answer = await s.get('/healthz', {});
    expect(answer.status).toBe(503);
    expect(answer.json).toEqual({ status: 'unavailable', poller: true, reason: 'the vault was rotated to key 9c04e1b7, which this relay was not given' });
    expect(Health.parse(answer.json).status).toBe('unavailable');
  });

  // The 503 bodies now carry a `reason` beside the status (it was `{"status":"unavailable"}` alone).
  it('answers 503 {"status":"unavailable"} once the database is closed', async () => {
    s = await new ApiServer().start();
    s.store.close();
    const answer = await s.get('/healthz', {});
    expect(answer.status).toBe(503);
    expect(answer.json).toEqual({ status: 'unavailable', poller: true, reason: 'the database is closed' });
    expect(Health.parse(answer.json).status).toBe('unavailable');
  });

  it('answers 503 when the store says it is unhealthy, or throws', async () => {
    s = await new ApiServer().start({ wrap: withStore({ health: { check: () => ({ ok: false, problem: 'full' }) } }) });
    const full = await s.get('/healthz', {});
    expect(full.status).toBe(503);
    expect(full.json).toEqual({ status: 'unavailable', poller: true, reason: 'the store cannot write: the disk is full' });
    await s.stop();
    s = await new ApiServer().start({
      wrap: withStore({
        health: {
          check: () => {
            throw new Error('disk on fire');
          },
        },
      }),
    });
    const answer = await s.get('/healthz', {});
    expect(answer.status).toBe(503);
    expect(answer.json).toEqual({ status: 'unavailable', poller: true, reason: 'the database cannot be read' });
    expect(answer.text).not.toContain('fire');
  });

  it('waits for a store that answers with a promise, and answers 503 when it rejects', async () => {
    // A store on a database behind a socket: its health answers with a promise.
    const asyncHealth = (check: StoreParts['health']['check']) => (store: Store): StoreParts => ({ ...store, health: { check } });
    s = await new ApiServer().start({ wrap: asyncHealth(async () => ({ ok: false, problem: 'io_error' })) });
    const failing = await s.get('/healthz', {});
    expect(failing.status).toBe(503);
    expect(Health.parse(failing.json).reason).toMatch(/^the store cannot write: /);
    await s.stop();
    s = await new ApiServer().start({ wrap: asyncHealth(() => Promise.reject(new Error('socket on fire'))) });
    const answer = await s.get('/healthz', {});
    expect(answer.json).toEqual({ status: 'unavailable', poller: true, reason: 'the database cannot be read' });
    expect(answer.text).not.toContain('fire');
  });
});

describe('GET /metrics', () => {
  it('answers Prometheus text without a key, with requests by group', async () => {
    s = await new ApiServer().start();
    s.store.requests.upsertFromConcur([record('A'), record('B'), record('C', { status: 'CREU1' })], s.clock.iso());
    s.metrics.recordPoll();
    const answer = await s.get('/metrics', {});
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(answer.text).toContain('triplink_requests{group="pending"} 2');
    expect(answer.text).toContain('triplink_requests{group="failed"} 1');
    expect(answer.text).toContain('triplink_polls_total 1');
    // Counts only: no ids, names or loyalty numbers.
    expect(answer.text).not.toMatch(/LN-A|Lovelace|"A"/);
  });

  it("times the API's answers by route pattern and status, never by the id in the path", async () => {
    s = await new ApiServer().start();
    s.store.requests.upsertFromConcur([record('REQ-SECRET-ID')], s.clock.iso());
    expect((await s.get('/api/v1/requests/REQ-SECRET-ID')).status).toBe(200);
    expect((await s.get('/api/v1/requests/NO-SUCH-ID')).status).toBe(404);
    expect((await s.get('/api/v1/no-such-route')).status).toBe(404);
    expect((await s.get('/api/v1/summary', {})).status).toBe(401);
    const text = (await s.get('/metrics', {})).text;
    expect(text).toMatch(/^# TYPE triplink_http_request_duration_seconds histogram$/m);
    expect(text).toContain('triplink_http_request_duration_seconds_count{method="GET",route="/api/v1/requests/:id",status="200"} 1');
    expect(text).toContain('triplink_http_request_duration_seconds_count{method="GET",route="/api/v1/requests/:id",status="404"} 1');
    expect(text).toContain('triplink_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1');
    // Refused by the key check (middleware) before its route ran: still labelled by that route.
    expect(text).toContain('triplink_http_request_duration_seconds_count{method="GET",route="/api/v1/summary",status="401"} 1');
    expect(text).not.toContain('REQ-SECRET-ID');
    expect(text).not.toContain('NO-SUCH-ID');
  });
});

describe('GET /api/v1/me', () => {
  it("names the key in use, its role and its prefix, and nothing of the key's secret part", async () => {
    s = await new ApiServer().start();
    const { secret } = s.store.keys.create({ name: 'Alice', role: 'replier' }, { keyId: null, name: 'cli' });
    const answer = await s.get('/api/v1/me', { Authorization: `Bearer ${secret}` });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ name: 'Alice', role: 'replier', prefix: secret.slice(0, 8) });
    expect(answer.text).not.toContain(secret.slice(8));
    expect((await s.get('/api/v1/me')).json).toEqual({ name: 'env key 1', role: 'admin', prefix: API_KEY.slice(0, 8) });
    expect((await s.get('/api/v1/me', {})).status).toBe(401);
  });
});

describe('GET /openapi.json', () => {
  it('describes every route, generated from the shared models, with the Bearer scheme', async () => {
    s = await new ApiServer().start();
    const answer = await s.get('/openapi.json', {});
    expect(answer.status).toBe(200);
    const doc = answer.json as {
      openapi: string;
      info: { title: string };
      paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }>; securitySchemes: Record<string, unknown> };
    };
    expect(typeof doc).toBe('object');
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/api/v1/audit',
        '/api/v1/connections',
        '/api/v1/connections/{id}',
        '/api/v1/connections/{id}/token',
        '/api/v1/events',
        '/api/v1/keys',
        '/api/v1/keys/{id}',
        '/api/v1/me',
        '/api/v1/requests',
        '/api/v1/requests/{id}',
        '/api/v1/requests/{id}/reply',
        '/api/v1/summary',
        '/api/v1/webhooks',
        '/api/v1/webhooks/{id}',
        '/api/v1/webhooks/{id}/deliveries',
        '/api/v1/webhooks/{id}/deliveries/{deliveryId}/resend',
        '/api/v1/webhooks/{id}/recover',
        '/api/v1/webhooks/{id}/rotate-secret',
        '/api/v1/webhooks/{id}/test',
        '/healthz',
        '/metrics',
        // The document describes itself too (an operationId a generated client can call, security: []).
        '/openapi.json',
      ].sort(),
    );
    expect(doc.paths['/api/v1/requests/{id}/reply']?.post?.responses).toHaveProperty('202');
    expect(doc.paths['/api/v1/summary']?.get?.security).toEqual([{ apiKey: [] }]);
    expect(doc.paths['/healthz']?.get?.security).toEqual([]);
    expect(doc.components.securitySchemes).toEqual({
      apiKey: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    });
    for (const name of ['ConnectionRequest', 'Reply', 'RequestsPage', 'ReplyBody', 'ReplyResponse', 'Summary', 'Error']) {
      expect(doc.components.schemas, name).toHaveProperty(name);
    }
    expect(Object.keys(doc.components.schemas.ConnectionRequest?.properties ?? {})).not.toContain('requestToken');
    for (const name of ['Connection', 'ConnectionsPage', 'ConnectionToken']) expect(doc.components.schemas, name).toHaveProperty(name);
    expect(Object.keys(doc.components.schemas.Connection?.properties ?? {}).filter((field) => /token$/i.test(field))).toEqual([]);
    expect(answer.text).toContain('"CRSUC"');
  });

  it('lists the closed set of error codes, storage_unavailable among them, and the 503 with Retry-After', async () => {
    s = await new ApiServer().start();
    const doc = (await s.get('/openapi.json', {})).json as {
      paths: Record<string, Record<string, { responses: Record<string, { headers?: Record<string, unknown> }> }>>;
      components: { schemas: { Error: { properties: { error: { properties: { code: { enum?: string[] } } } } } } };
    };
    const codes = doc.components.schemas.Error.properties.error.properties.code.enum ?? [];
    for (const code of ['storage_unavailable', 'invalid_request', 'bad_cursor', 'unsupported_media_type', 'internal']) {
      expect(codes).toContain(code);
    }
    const reply = doc.paths['/api/v1/requests/{id}/reply']?.post?.responses['503'];
    expect(reply?.headers).toHaveProperty('Retry-After');
    expect(doc.paths['/api/v1/webhooks']?.post?.responses).toHaveProperty('503');
  });
});

describe('GET /api/v1/events (mounted from ./events.ts)', () => {
  it('streams behind the key', async () => {
    s = await new ApiServer().start({ deps: { events: { heartbeatMs: 60_000 } } });
    expect((await s.get('/api/v1/events', {})).status).toBe(401);
    const abort = new AbortController();
    const response = await fetch(`${s.url}/api/v1/events`, { headers: AUTH, signal: abort.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.getReader();
    let text = '';
    const decoder = new TextDecoder();
    while (!text.includes('event: summary')) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    abort.abort();
    await reader.cancel().catch(() => undefined);
    expect(text).toContain('event: summary');
    s.bodies.push(text);
  });
});

describe('unknown routes and wrong methods', () => {
  it('answers 404 not_found for an unknown route, as JSON', async () => {
    s = await new ApiServer().start();
    for (const path of ['/', '/nope', '/api/v2/summary']) {
      const answer = await s.get(path, {});
      expect(answer.status, path).toBe(404);
      expect(errorOf(answer).code).toBe('not_found');
    }
    const withKey = await s.get('/api/v1/nope', AUTH);
    expect(withKey.status).toBe(404);
    expect(errorOf(withKey).code).toBe('not_found');
  });

  it.each([
    ['POST', '/api/v1/summary', 'GET'],
    ['DELETE', '/api/v1/requests/R1', 'GET'],
    ['GET', '/api/v1/requests/R1/reply', 'POST'],
    ['PUT', '/healthz', 'GET'],
  ])('answers 405 for %s %s, with Allow', async (method, path, allowed) => {
    s = await new ApiServer().start();
    const answer = await s.fetch(path, { method, headers: AUTH });
    expect(answer.status).toBe(405);
    expect(answer.headers.get('allow')).toContain(allowed);
    expect(errorOf(answer)).toMatchObject({ code: 'method_not_allowed', message: expect.stringContaining(allowed) });
  });
});

describe('unexpected errors', () => {
  it('answer 500 internal with a generic message and the request id; the details go to the log only', async () => {
    const secret = 'SQLITE_CORRUPT at /var/lib/relay/secret-path.sqlite';
    s = await new ApiServer().start({
      wrap: withStore({
        state: {
          summary: () => {
            throw new Error(secret);
          },
        },
        requests: {
          list: () => {
            throw new TypeError('Cannot read properties of undefined (reading "x")');
          },
        },
      }),
    });
    for (const path of ['/api/v1/summary', '/api/v1/requests']) {
      const answer = await s.get(path, { ...AUTH, 'X-Request-Id': 'test-req-42' });
      expect(answer.status).toBe(500);
      const error = errorOf(answer);
      expect(error.code).toBe('internal');
      expect(error.message).toContain('test-req-42');
      expect(error.details).toEqual({ requestId: 'test-req-42' });
      expect(answer.text).not.toMatch(/SQLITE|secret-path|Cannot read|TypeError|\n\s+at /);
      expect(answer.headers.get('x-request-id')).toBe('test-req-42');
    }
    const logged = s.logLines.map((line) => JSON.parse(line) as { reqId?: string; err?: { message?: string; stack?: string } });
    const failure = logged.find((line) => line.err?.message === secret);
    expect(failure?.reqId).toBe('test-req-42');
    expect(failure?.err?.stack).toContain('Error');
  });

  it('answer 500 when a store answer does not fit the shared model (never a malformed body)', async () => {
    s = await new ApiServer().start({
      wrap: withStore({
        state: { summary: () => ({ counts: { pending: -1, failed: 0, connected: 0 } }) as unknown as ReturnType<Store['state']['summary']> },
      }),
    });
    const answer = await s.get('/api/v1/summary');
    expect(answer.status).toBe(500);
    expect(errorOf(answer).code).toBe('internal');
  });
});
