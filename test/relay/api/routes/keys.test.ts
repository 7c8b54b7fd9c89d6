import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { ApiKey, ApiKeyCreated, ApiKeyList, Me } from '../../../../shared/people.js';
import { openStore } from '../../../../relay/store/index.js';
import { connectSse, eventually } from '../../../helpers/sse-client.js';
import { ApiServer, AUTH, bearer, errorOf, expectNoSecrets, record } from '../helpers.js';
import { TEST_VAULT } from '../../../helpers/vault.js';

/** The key routes over real HTTP: made by an admin, shown once, listed without secrets, revoked for good. */

let s: ApiServer;
beforeEach(async () => {
  s = await new ApiServer().start();
  s.store.requests.upsertFromConcur([record('R1')], s.clock.iso());
});
afterEach(async () => {
  expectNoSecrets(s);
  await s.stop();
});

const del = (path: string, headers: Record<string, string> = AUTH) => s.fetch(path, { method: 'DELETE', headers });

async function createKey(body: unknown, headers: Record<string, string> = {}): Promise<ApiKeyCreated> {
  const answer = await s.post('/api/v1/keys', body, headers);
  if (answer.status !== 201) throw new Error(`POST /api/v1/keys answered ${answer.status}: ${answer.text}`);
  return ApiKeyCreated.parse(answer.json);
}

describe('POST /api/v1/keys', () => {
  it('answers 201 with the record and the key, not to be cached; the key works at once with its role', async () => {
    const answer = await s.post('/api/v1/keys', { name: '  Alice  ', role: 'replier' });
    expect(answer.status).toBe(201);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const created = ApiKeyCreated.parse(answer.json);
    expect(created.secret).toMatch(/^trl_[A-Za-z0-9_-]{43}$/);
    expect(z.strictObject(ApiKey.shape).parse(created.key)).toEqual({
      id: expect.stringMatching(/^key_/),
      name: 'Alice',
      role: 'replier',
      prefix: created.secret.slice(0, 8),
      createdAt: s.clock.iso(),
      lastUsedAt: null,
      revokedAt: null,
    });

    const me = await s.get('/api/v1/me', bearer(created.secret));
    expect(Me.parse(me.json)).toEqual({ name: 'Alice', role: 'replier', prefix: created.key.prefix });
    expect((await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, bearer(created.secret))).status).toBe(202);
    expect((await s.get('/api/v1/keys', bearer(created.secret))).status).toBe(403);
  });

  it.each([
    [{ name: 'Bob', role: 'root' }, /body field role: must be one of viewer, replier, admin, broker/],
    [{ name: '   ', role: 'viewer' }, /body field name: must name who or what uses the key/],
    [{ name: 'x'.repeat(101), role: 'viewer' }, /body field name: must be at most 100 characters/],
    [{ name: 'Bob', role: 'viewer', secret: 'trl_mine' }, /secret/],
    [{ role: 'viewer' }, /body field name/],
  ])('refuses %j with 400 naming the field', async (body, message) => {
    const answer = await s.post('/api/v1/keys', body);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(message) });
    expect(s.store.keys.list().map((key) => key.name)).toEqual(['env key 1']);
  });
});

describe('GET /api/v1/keys', () => {
  it('lists every key newest first, revoked ones too, never a key itself', async () => {
    // Keys made in the same millisecond have no order between them.
    s.clock.advance(1000);
    const alice = await createKey({ name: 'Alice', role: 'viewer' });
    s.clock.advance(1000);
    const bob = await createKey({ name: 'Bob', role: 'broker' });
    await del(`/api/v1/keys/${alice.key.id}`);
    const answer = await s.get('/api/v1/keys');
    expect(answer.status).toBe(200);
    const { items } = ApiKeyList.parse(answer.json);
    expect(items.map((key) => [key.name, key.role, key.revokedAt === null])).toEqual([
      ['Bob', 'broker', true],
      ['Alice', 'viewer', false],
      ['env key 1', 'admin', true],
    ]);
    for (const item of items) expect(Object.keys(item).sort()).toEqual(Object.keys(ApiKey.shape).sort());
    expect(answer.text).not.toContain(alice.secret.slice(8));
    expect(answer.text).not.toContain(bob.secret.slice(8));
  });
});

describe('DELETE /api/v1/keys/:id', () => {
  it('revokes the key: 200 with the record, and the next call with it is 401', async () => {
    const alice = await createKey({ name: 'Alice', role: 'viewer' });
    expect((await s.get('/api/v1/summary', bearer(alice.secret))).status).toBe(200);
    s.clock.advance(5000);
    const answer = await del(`/api/v1/keys/${alice.key.id}`);
    expect(answer.status).toBe(200);
    const revoked = ApiKey.parse(answer.json);
    expect(revoked).toMatchObject({ id: alice.key.id, name: 'Alice', revokedAt: s.clock.iso() });
    const refused = await s.get('/api/v1/summary', bearer(alice.secret));
    expect(refused.status).toBe(401);
    expect(errorOf(refused).message).toContain(`the API key ${alice.key.prefix}… (Alice) was revoked`);

    // Again: answered as it is, revoked when it was.
    s.clock.advance(5000);
    const again = await del(`/api/v1/keys/${alice.key.id}`);
    expect(ApiKey.parse(again.json).revokedAt).toBe(revoked.revokedAt);
  });

  it('takes the prefix too, as `keys revoke` does; 404 for a key that does not exist', async () => {
    const bob = await createKey({ name: 'Bob', role: 'viewer' });
    expect((await del(`/api/v1/keys/${bob.key.prefix}`)).status).toBe(200);
    expect((await s.get('/api/v1/me', bearer(bob.secret))).status).toBe(401);
    const missing = await del('/api/v1/keys/key_nope');
    expect(missing.status).toBe(404);
    expect(errorOf(missing).code).toBe('not_found');
    expect((await del('/api/v1/keys/not%20an%20id')).status).toBe(400);
  });

  it('lets an admin revoke its own key: its next call is refused', async () => {
    const root = await createKey({ name: 'Root', role: 'admin' });
    expect((await del(`/api/v1/keys/${root.key.id}`, bearer(root.secret))).status).toBe(200);
    expect((await s.get('/api/v1/keys', bearer(root.secret))).status).toBe(401);
  });
});

describe('a key', () => {
  it('never appears in the database file or its WAL, in the log, or in any answer but its creation', async () => {
    const alice = await createKey({ name: 'Alice', role: 'replier' });
    const withAlice = bearer(alice.secret);
    await s.get('/api/v1/me', withAlice);
    await s.get('/api/v1/requests', withAlice);
    await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, withAlice);
    await s.get('/api/v1/keys', withAlice);
    await s.get('/api/v1/keys');
    await s.get('/api/v1/audit');
    s.clock.advance(120_000);
    await s.get('/api/v1/summary', withAlice);
    await del(`/api/v1/keys/${alice.key.id}`);
    await s.get('/api/v1/summary', withAlice);

    // The part after the prefix is what makes the key: nowhere, in any form the relay writes.
    const hidden = alice.secret.slice(8);
    for (const file of [s.dbPath, `${s.dbPath}-wal`]) {
      const bytes = readFileSync(file);
      expect(bytes.length, file).toBeGreaterThan(0);
      expect(bytes.includes(Buffer.from(alice.secret)), file).toBe(false);
      expect(bytes.includes(Buffer.from(hidden)), file).toBe(false);
    }
    expect(s.logLines.length).toBeGreaterThan(5);
    expect(s.logLines.filter((line) => line.includes(hidden))).toEqual([]);
    const answers = s.bodies.filter((body) => body.includes(hidden));
    expect(answers).toHaveLength(1);
    expect(ApiKeyCreated.parse(JSON.parse(answers[0]!)).key.id).toBe(alice.key.id);
  });
});

describe("a revoked key's event streams", () => {
  it('end at once when the key is revoked through the API; other keys\' streams go on', async () => {
    const alice = await createKey({ name: 'Alice', role: 'viewer' });
    const bob = await createKey({ name: 'Bob', role: 'viewer' });
    const aliceStream = await connectSse(`${s.url}/api/v1/events`, bearer(alice.secret));
    const bobStream = await connectSse(`${s.url}/api/v1/events`, bearer(bob.secret));
    try {
      await aliceStream.waitForMessages(1);
      await bobStream.waitForMessages(1);
      expect((await del(`/api/v1/keys/${alice.key.id}`)).status).toBe(200);
      await aliceStream.waitForEnd(3000);
      expect((await s.get('/api/v1/summary', bearer(alice.secret))).status).toBe(401);
      expect((await s.get('/api/v1/events', bearer(alice.secret))).status).toBe(401);

      s.store.requests.upsertFromConcur([record('R2')], s.clock.iso());
      await bobStream.waitFor(() => bobStream.messages.find((m) => m.event === 'request.created'), 3000, 'request.created');
      expect(bobStream.ended).toBe(false);
      expect(aliceStream.raw()).not.toContain('request.created');
    } finally {
      aliceStream.close();
      bobStream.close();
    }
  });

  it('end within a couple of seconds when another process revokes the key on the same database', async () => {
    const alice = await createKey({ name: 'Alice', role: 'viewer' });
    const bob = await createKey({ name: 'Bob', role: 'viewer' });
    const aliceStreams = [await connectSse(`${s.url}/api/v1/events`, bearer(alice.secret)), await connectSse(`${s.url}/api/v1/events`, bearer(alice.secret))];
    const bobStream = await connectSse(`${s.url}/api/v1/events`, bearer(bob.secret));
    // As the `keys revoke` command line does: its own connection to the file, the machine's clock.
    const cli = openStore(s.dbPath, { vault: TEST_VAULT, clock: s.clock.now });
    try {
      for (const stream of [...aliceStreams, bobStream]) await stream.waitForMessages(1);
      cli.keys.revoke(alice.key.prefix, { keyId: null, name: 'cli' });
      for (const stream of aliceStreams) await stream.waitForEnd(5000);
      await eventually(() => s.metrics.sseClients === 1, 3000, 'one stream left');
      expect(bobStream.ended).toBe(false);
      expect((await s.get('/api/v1/me', bearer(alice.secret))).status).toBe(401);
    } finally {
      cli.close();
      for (const stream of [...aliceStreams, bobStream]) stream.close();
    }
  });
});
