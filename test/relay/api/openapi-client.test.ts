import createClient from 'openapi-fetch';
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { paths } from './generated/openapi.js';
import { ApiServer, expectNoSecrets, record, type TestKey } from './helpers.js';

/**
 * What a client developer does with the served document: generate TypeScript types from it
 * (openapi-typescript, as its CLI would) and call the relay with openapi-fetch over real HTTP.
 * The types are committed (./generated/openapi.d.ts) so that `tsc` checks the calls below against
 * them; the first test keeps them true to the document the relay serves.
 */

/** Said on top of the generated file: where it comes from, and how to make it again. */
const HEADER = `// The relay's OpenAPI document (GET /openapi.json) as TypeScript types, made by openapi-typescript.
// Kept equal to what the relay serves by test/relay/api/openapi-client.test.ts; after a change to the API:
//   npx vitest run --project unit test/relay/api/openapi-client.test.ts -u
`;

let s: ApiServer;
let replier: TestKey;
let viewer: TestKey;

beforeAll(async () => {
  s = await new ApiServer().start();
  replier = s.keyFor('replier', 'Alice');
  viewer = s.keyFor('viewer', 'Bob');
  // Three pending requests and a connected one, a minute apart (P3 newest).
  s.store.requests.upsertFromConcur(
    [
      record('P1', { lastModified: '2024-05-01T09:01:00Z' }),
      record('P2', { lastModified: '2024-05-01T09:02:00Z' }),
      record('P3', { lastModified: '2024-05-01T09:03:00Z' }),
      record('C1', { status: 'Connected', lastModified: '2024-05-01T09:04:00Z' }),
    ],
    s.clock.iso(),
  );
});
afterAll(async () => {
  expectNoSecrets(s);
  await s.stop();
});

/** A client of the relay for the key, generated from the document: the base URL is all it needs. */
const clientFor = (key: TestKey) => createClient<paths>({ baseUrl: s.url, headers: key.auth });

describe('the types generated from the served document', () => {
  it('are the committed ./generated/openapi.d.ts (regenerate with -u after a change to the API)', async () => {
    const served = await s.get('/openapi.json', {});
    expect(served.status).toBe(200);
    const types = `${HEADER}${COMMENT_HEADER}${astToString(await openapiTS(served.json as OpenAPI3))}`;
    await expect(types).toMatchFileSnapshot('./generated/openapi.d.ts');
  });
});

describe('a typed client (openapi-fetch) against a running relay', () => {
  it('lists requests page by page, following nextCursor', async () => {
    const client = clientFor(viewer);
    const first = await client.GET('/api/v1/requests', { params: { query: { group: 'pending', limit: 2 } } });
    expect(first.response.status).toBe(200);
    expect(first.error).toBeUndefined();
    expect(first.data?.items.map((request) => request.id)).toEqual(['P3', 'P2']);
    expect(first.data?.items[0]).toMatchObject({ firstName: 'Ada', lastName: 'Lovelace', status: 'Pending', group: 'pending', reply: null });
    expect(first.response.headers.get('Relay-Event-Id')).toMatch(/^\d+$/);
    const cursor = first.data?.nextCursor;
    expect(cursor).toEqual(expect.any(String));

    const second = await client.GET('/api/v1/requests', { params: { query: { group: 'pending', limit: 2, cursor: cursor ?? undefined } } });
    expect(second.data?.items.map((request) => request.id)).toEqual(['P1']);
    expect(second.data?.nextCursor).toBeNull();
  });

  it('sends a reply (202, queued, in the name of the key) and reads it back on the request', async () => {
    const client = clientFor(replier);
    const sent = await client.POST('/api/v1/requests/{id}/reply', {
      params: { path: { id: 'P2' }, header: { 'Idempotency-Key': 'typed-client-1' } },
      body: { status: 'CRSUC' },
    });
    expect(sent.response.status).toBe(202);
    expect(sent.error).toBeUndefined();
    // Typed as a Reply, never null: tsc accepts `reply.state` without `?.`.
    const reply = sent.data!.reply;
    expect(reply.state).toBe('queued');
    expect(reply).toMatchObject({ status: 'CRSUC', attempts: 0, requestedBy: 'Alice' });
    expect(s.kicks).toBe(1);

    const request = await client.GET('/api/v1/requests/{id}', { params: { path: { id: 'P2' } } });
    expect(request.data?.reply).toMatchObject({ status: 'CRSUC', state: 'queued' });

    // The same Idempotency-Key: the same reply, nothing queued again.
    const again = await client.POST('/api/v1/requests/{id}/reply', {
      params: { path: { id: 'P2' }, header: { 'Idempotency-Key': 'typed-client-1' } },
      body: { status: 'CRSUC' },
    });
    expect(again.response.status).toBe(202);
    expect(again.data?.reply).toEqual(reply);
    expect(s.kicks).toBe(1);
  });

  it('gets the error answers typed as the Error body', async () => {
    const forbidden = await clientFor(viewer).POST('/api/v1/requests/{id}/reply', {
      params: { path: { id: 'P1' } },
      body: { status: 'CRSUC' },
    });
    expect(forbidden.response.status).toBe(403);
    expect(forbidden.data).toBeUndefined();
    expect(forbidden.error?.error.code).toBe('forbidden');
    expect(forbidden.error?.error.message).toContain('(Bob, viewer) may not send replies');

    const missing = await clientFor(replier).POST('/api/v1/requests/{id}/reply', { params: { path: { id: 'NOPE' } }, body: { status: 'CRSUC' } });
    expect(missing.response.status).toBe(404);
    expect(missing.error?.error.code).toBe('not_found');

    // What the types refuse, the relay refuses too.
    const wrong = await clientFor(replier).POST('/api/v1/requests/{id}/reply', {
      params: { path: { id: 'P1' } },
      // @ts-expect-error: "Connected" is a status Concur sets, not a reply code
      body: { status: 'Connected' },
    });
    expect(wrong.response.status).toBe(400);
    expect(wrong.error?.error.code).toBe('invalid_request');
    expect(s.store.requests.get('P1')?.reply).toBeNull();
  });

  it('reaches /healthz without a key, and tells a key whose it is', async () => {
    const client = createClient<paths>({ baseUrl: s.url });
    const health = await client.GET('/healthz');
    expect(health.data).toEqual({ status: 'ok', poller: true });
    const me = await clientFor(replier).GET('/api/v1/me');
    expect(me.data).toEqual({ name: 'Alice', role: 'replier', prefix: replier.key.prefix });
  });
});
