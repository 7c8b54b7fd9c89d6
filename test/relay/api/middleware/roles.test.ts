import type { AddressInfo } from 'node:net';
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, can, rolesWith, type Permission, type Role } from '../../../../shared/roles.js';
import type { AppEnv } from '../../../../relay/api/context.js';
import { onError } from '../../../../relay/api/errors.js';
import { roleGuard } from '../../../../relay/api/middleware/roles.js';
import { requires } from '../../../../relay/api/permissions.js';
import { ApiServer, errorOf, expectNoSecrets, record, type TestKey } from '../helpers.js';

/**
 * Every operation the relay documents under /api/v1, called by a key of every role over real
 * HTTP: the role either gets through (2xx, or a 4xx that is about the request: 400 for the empty
 * body sent, 404 for the made-up id) or gets 403 `forbidden`. The operations come from the served
 * /openapi.json, so a new route is in this table the moment it exists; it fails here until
 * EXPECTED says which permission it should need.
 */

/** What each route should need (README, "People and permissions"), by `METHOD /path` of the document. */
const EXPECTED: ReadonlyArray<readonly [RegExp, Permission]> = [
  [/^GET \/api\/v1\/me$/, 'me'],
  [/^GET \/api\/v1\/(summary|requests|requests\/\{id\}|events)$/, 'read'],
  [/^POST \/api\/v1\/requests\/\{id\}\/reply$/, 'reply'],
  [/^(GET|POST|PATCH|DELETE) \/api\/v1\/(webhooks|keys|audit)(\/.*)?$/, 'admin'],
  [/^GET \/api\/v1\/connections(\/\{id\})?$/, 'connections'],
  [/^POST \/api\/v1\/connections\/\{id\}\/token$/, 'tokens'],
  [/^DELETE \/api\/v1\/connections\/\{id\}$/, 'admin'],
];

interface Operation {
  method: string;
  path: string;
  'x-required-permission'?: unknown;
  'x-roles'?: unknown;
  responses: Record<string, unknown>;
}

let s: ApiServer;
let operations: Operation[];
const keys = {} as Record<Role, TestKey>;

beforeAll(async () => {
  s = await new ApiServer().start({ deps: { events: { heartbeatMs: 60_000 } } });
  s.store.requests.upsertFromConcur([record('R1')], s.clock.iso());
  for (const role of ROLES) keys[role] = s.keyFor(role, `${role} person`);
  const doc = (await s.get('/openapi.json', {})).json as { paths: Record<string, Record<string, Operation>> };
  operations = Object.entries(doc.paths)
    .filter(([path]) => path.startsWith('/api/v1/'))
    .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ ...op, method: method.toUpperCase(), path })));
});
afterAll(async () => {
  expectNoSecrets(s);
  await s.stop();
});

/** Calls an operation with made-up ids and, where it takes one, an empty JSON body; the status only (a stream is cut at once). */
async function statusOf(op: Operation, auth: { Authorization: string }): Promise<number> {
  const path = op.path.replaceAll(/\{[^}]+\}/g, 'no-such-id');
  const hasBody = op.method === 'POST' || op.method === 'PATCH';
  const abort = new AbortController();
  const response = await fetch(`${s.url}${path}`, {
    method: op.method,
    headers: { ...auth, ...(hasBody ? { 'Content-Type': 'application/json' } : {}) },
    body: hasBody ? '{}' : undefined,
    signal: abort.signal,
  });
  if (!response.headers.get('content-type')?.startsWith('text/event-stream')) s.bodies.push(await response.text());
  abort.abort();
  return response.status;
}

describe('every operation under /api/v1, for every role', () => {
  it('is documented with a permission and the roles that hold it, as this table expects', () => {
    expect(operations.length).toBeGreaterThan(15);
    for (const op of operations) {
      const name = `${op.method} ${op.path}`;
      const expected = EXPECTED.find(([pattern]) => pattern.test(name))?.[1];
      expect(expected, `${name} is new: say in EXPECTED which permission it needs`).toBeDefined();
      expect(op['x-required-permission'], `${name} declares no permission`).toBe(expected);
      expect(op['x-roles'], name).toEqual(rolesWith(expected!));
      expect(Object.keys(op.responses), name).toEqual(expect.arrayContaining(['401', '403', '429']));
    }
  });

  it.each(ROLES)('lets %s through exactly where its role has the permission, and refuses it 403 elsewhere', async (role) => {
    const seen: string[] = [];
    for (const op of operations) {
      const name = `${op.method} ${op.path}`;
      const permission = EXPECTED.find(([pattern]) => pattern.test(name))?.[1];
      expect(permission, name).toBeDefined();
      const status = await statusOf(op, keys[role].auth);
      const allowed = can(role, permission!);
      if (allowed) {
        expect([401, 403, 405, 429, 500], `${role} ${name} answered ${status}`).not.toContain(status);
        expect(status, `${role} ${name}`).toBeLessThan(500);
      } else {
        expect(status, `${role} ${name}`).toBe(403);
      }
      seen.push(`${name} ${allowed ? 'allowed' : 'refused'}`);
    }
    // Each role is let through somewhere (`/me` at least); the broker nowhere but `/me` and the connections with their tokens.
    expect(seen).toContain('GET /api/v1/me allowed');
    expect(seen).toContain('GET /api/v1/connections allowed');
    if (role === 'broker') {
      expect(seen.filter((line) => line.endsWith('allowed')).sort()).toEqual([
        'GET /api/v1/connections allowed',
        'GET /api/v1/connections/{id} allowed',
        'GET /api/v1/me allowed',
        'POST /api/v1/connections/{id}/token allowed',
      ]);
    }
    // Only the broker reads a traveller's token, and only an admin revokes a connection.
    expect(seen).toContain(`POST /api/v1/connections/{id}/token ${role === 'broker' ? 'allowed' : 'refused'}`);
    expect(seen).toContain(`DELETE /api/v1/connections/{id} ${role === 'admin' ? 'allowed' : 'refused'}`);
  });
});

describe('a refusal', () => {
  it('names the key, what it may not do and which roles may; nothing is done', async () => {
    const bob = s.keyFor('viewer', 'Bob');
    const answer = await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, bob.auth);
    expect(answer.status).toBe(403);
    expect(errorOf(answer)).toEqual({
      code: 'forbidden',
      message: `the API key ${bob.key.prefix}… (Bob, viewer) may not send replies; that needs the replier or admin role`,
    });
    expect(bob.key.prefix).toMatch(/^trl_.{4}$/);
    expect(s.store.replies.pendingCount()).toBe(0);
    expect(s.store.audit.list({ limit: 50 }).items.map((entry) => entry.action)).not.toContain('reply.requested');
  });

  it('comes before the body is read: a viewer gets 403, not 400 or 413', async () => {
    const big = await s.post('/api/v1/requests/R1/reply', 'x'.repeat(100 * 1024), keys.viewer.auth);
    expect(big.status).toBe(403);
    const broker = await s.get('/api/v1/summary', keys.broker.auth);
    expect(errorOf(broker).message).toBe(
      `the API key ${keys.broker.key.prefix}… (broker person, broker) may not read requests, the summary or live events; that needs the viewer, replier or admin role`,
    );
    const webhooks = await s.get('/api/v1/webhooks', keys.replier.auth);
    expect(errorOf(webhooks).message).toMatch(/\(replier person, replier\) may not administer the relay .*; that needs the admin role$/);
  });

  it('leaves unknown routes and wrong methods to 404 and 405', async () => {
    expect((await s.get('/api/v1/nope', keys.broker.auth)).status).toBe(404);
    expect((await s.fetch('/api/v1/summary', { method: 'DELETE', headers: keys.viewer.auth })).status).toBe(405);
  });
});

describe('the guard on its own', () => {
  let server: ServerType;
  let url = '';
  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** An app with a caller of `role`, the guard, one declared route and two that declare nothing. */
  async function start(role: Role): Promise<void> {
    const app = new OpenAPIHono<AppEnv>();
    app.use('*', async (c, next) => {
      c.set('caller', { id: 'key_x', name: 'Eve', role, prefix: 'trl_Eve0', createdAt: '2024-05-01T10:00:00.000Z', lastUsedAt: null, revokedAt: null });
      await next();
    });
    app.use('*', roleGuard(() => app.openAPIRegistry.definitions));
    const ok = { 200: { description: 'ok' } };
    app.openapi(createRoute({ method: 'get', path: '/declared', ...requires('read'), responses: ok }), (c) => c.text('declared'));
    app.openapi(createRoute({ method: 'get', path: '/undeclared', responses: ok }), (c) => c.text('undeclared'));
    app.get('/plain', (c) => c.text('plain'));
    app.onError(onError);
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => {
        url = `http://127.0.0.1:${info.port}`;
        resolve();
      });
    });
  }

  it('refuses every key, admin included, on a route that declares no permission', async () => {
    await start('admin');
    expect((await fetch(`${url}/declared`)).status).toBe(200);
    for (const path of ['/undeclared', '/plain']) {
      const answer = await fetch(`${url}${path}`);
      expect(answer.status, path).toBe(403);
      const body = (await answer.json()) as { error: { code: string; message: string } };
      expect(body.error).toEqual({ code: 'forbidden', message: `GET ${path} declares no permission, so no API key may call it` });
    }
  });

  it('refuses a role without the declared permission', async () => {
    await start('broker');
    expect((await fetch(`${url}/declared`)).status).toBe(403);
  });
});
