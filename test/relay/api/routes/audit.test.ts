import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebhookCreated } from '../../../../shared/models.js';
import { ApiKeyCreated, AuditPage, type AuditEntry } from '../../../../shared/people.js';
import { ApiServer, bearer, errorOf, expectNoSecrets, record } from '../helpers.js';

/** GET /api/v1/audit over real HTTP, after a scripted sequence of everything that is audited today. */

let s: ApiServer;
beforeEach(async () => {
  s = await new ApiServer().start({ deps: { webhooks: { allowPrivate: true, kick: () => undefined } } });
  s.store.requests.upsertFromConcur([record('R1')], s.clock.iso());
});
afterEach(async () => {
  expectNoSecrets(s);
  await s.stop();
});

async function ok(answer: Promise<{ status: number; text: string; json: unknown }>, status: number): Promise<unknown> {
  const { status: got, text, json } = await answer;
  if (got !== status) throw new Error(`expected ${status}, got ${got}: ${text}`);
  return json;
}

/** Every page of the trail, following nextCursor, as `key`'s holder reads it. */
async function wholeTrail(headers: Record<string, string>, limit: number): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `?limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
    const page = AuditPage.parse(await ok(s.get(`/api/v1/audit${query}`, headers), 200));
    expect(page.items.length).toBeLessThanOrEqual(limit);
    entries.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return entries;
}

describe('the audit trail', () => {
  it('lists exactly what was done, by whom, to what, newest first', async () => {
    const envKey = s.store.keys.list()[0]!;
    const ada = ApiKeyCreated.parse(await ok(s.post('/api/v1/keys', { name: 'Ada', role: 'admin' }), 201));
    const asAda = bearer(ada.secret);
    const rita = ApiKeyCreated.parse(await ok(s.post('/api/v1/keys', { name: 'Rita', role: 'replier' }, asAda), 201));
    await ok(s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, bearer(rita.secret)), 202);
    await ok(s.fetch(`/api/v1/keys/${rita.key.id}`, { method: 'DELETE', headers: asAda }), 200);
    const hook = WebhookCreated.parse(
      await ok(s.post('/api/v1/webhooks', { url: 'http://127.0.0.1:9/hooks?token=receiver-side-token', events: ['request.created'] }, asAda), 201),
    );
    const id = hook.webhook.id;
    const patch = { description: 'ops', events: ['request.created', 'reply.sent'] };
    await ok(s.fetch(`/api/v1/webhooks/${id}`, { method: 'PATCH', headers: { ...asAda, 'Content-Type': 'application/json' }, body: JSON.stringify(patch) }), 200);
    const rotated = WebhookCreated.parse(await ok(s.post(`/api/v1/webhooks/${id}/rotate-secret`, undefined, asAda), 200));
    await ok(s.fetch(`/api/v1/webhooks/${id}`, { method: 'DELETE', headers: asAda }), 204);

    const trail = await wholeTrail(asAda, 3);
    const ADA = { keyId: ada.key.id, name: 'Ada' };
    expect(trail.map(({ actor, action, target, details }) => ({ actor, action, target, details }))).toEqual([
      { actor: ADA, action: 'webhook.deleted', target: id, details: { endpoint: 'http://127.0.0.1:9/hooks' } },
      { actor: ADA, action: 'webhook.secret_rotated', target: id, details: null },
      { actor: ADA, action: 'webhook.updated', target: id, details: patch },
      { actor: ADA, action: 'webhook.created', target: id, details: { endpoint: 'http://127.0.0.1:9/hooks', events: ['request.created'] } },
      { actor: ADA, action: 'key.revoked', target: rita.key.id, details: { name: 'Rita', role: 'replier', prefix: rita.key.prefix } },
      { actor: { keyId: rita.key.id, name: 'Rita' }, action: 'reply.requested', target: 'R1', details: { status: 'CRSUC', replyId: expect.any(Number) } },
      { actor: ADA, action: 'key.created', target: rita.key.id, details: { name: 'Rita', role: 'replier', prefix: rita.key.prefix } },
      { actor: { keyId: envKey.id, name: 'env key 1' }, action: 'key.created', target: ada.key.id, details: { name: 'Ada', role: 'admin', prefix: ada.key.prefix } },
      // Made when the relay started: RELAY_API_KEYS as an admin key.
      { actor: { keyId: null, name: 'RELAY_API_KEYS' }, action: 'key.created', target: envKey.id, details: { name: 'env key 1', role: 'admin', prefix: envKey.prefix } },
    ]);
    expect(new Set(trail.map((entry) => entry.id)).size).toBe(trail.length);
    expect(trail.every((entry) => entry.at === s.clock.iso())).toBe(true);

    // Read as one page, the same; and no secret of any kind in it.
    const whole = await s.get('/api/v1/audit?limit=200');
    expect(AuditPage.parse(whole.json)).toEqual({ items: trail, nextCursor: null });
    for (const secret of [ada.secret, rita.secret, hook.secret, rotated.secret, 'receiver-side-token']) {
      expect(whole.text).not.toContain(secret.slice(8));
    }
  });

  it('answers 400 bad_cursor for a cursor it did not make, and 400 for a limit out of bounds', async () => {
    const bad = await s.get('/api/v1/audit?cursor=nope');
    expect(bad.status).toBe(400);
    expect(errorOf(bad).code).toBe('bad_cursor');
    const limit = await s.get('/api/v1/audit?limit=201');
    expect(limit.status).toBe(400);
    expect(errorOf(limit)).toMatchObject({ code: 'invalid_request', message: expect.stringContaining('query parameter limit') });
  });

  it('is for admins only', async () => {
    for (const role of ['viewer', 'replier', 'broker'] as const) {
      const answer = await s.get('/api/v1/audit', s.keyFor(role).auth);
      expect(answer.status, role).toBe(403);
    }
  });
});
