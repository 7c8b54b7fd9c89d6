import { describe, expect, it } from 'vitest';
import { Connection, ConnectionsPage, ConnectionToken } from '../../../../shared/connections.js';
import { AuditPage } from '../../../../shared/people.js';
import { ROLES } from '../../../../shared/roles.js';
import { connectionsWorld, HOUR, MINUTE } from '../../connections/helpers.js';
import { errorOf, type TestKey } from '../helpers.js';

/**
 * The connections routes over real HTTP, with connections made for real at the sandbox: reading
 * them (every role), the broker's token (accepted by the sandbox's User API; refreshed first with
 * under 5 minutes left; audited, never the token), and revocation (at the sandbox, the ciphertext
 * erased, webhook connection.revoked).
 */

const w = connectionsWorld();
const USER_API = '/api/user/v1.0/User';

const tokenPath = (id: string) => `/api/v1/connections/${id}/token`;

async function readToken(id: string, key: TestKey) {
  return w().api.post(tokenPath(id), undefined, key.auth);
}

async function revoke(id: string, key: TestKey) {
  return w().api.fetch(`/api/v1/connections/${id}`, { method: 'DELETE', headers: key.auth });
}

function auditOf(action: string) {
  return AuditPage.parse(w().api.store.audit.list({ limit: 100 })).items.filter((entry) => entry.action === action);
}

/** The sandbox's User API with a traveller's token: the status and, when 200, the profile (JSON). */
async function userApi(accessToken: string, scheme = 'Bearer'): Promise<{ status: number; profile: Record<string, unknown> | null }> {
  const res = await fetch(`${w().sb.url}${USER_API}`, { headers: { Authorization: `${scheme} ${accessToken}`, Accept: 'application/json' } });
  const text = await res.text();
  return { status: res.status, profile: res.status === 200 ? (JSON.parse(text) as Record<string, unknown>) : null };
}

describe('reading connections', () => {
  it('lists them newest first for every role, by state and page by page, never with a token', async () => {
    const { api } = w();
    const a = await w().connect('password', { firstName: 'Ada' });
    api.clock.advance(1000);
    const b = await w().connect('legacy', { firstName: 'Grace' });
    api.clock.advance(1000);
    const c = await w().connect('password', { firstName: 'Edsger' });
    await revoke(a.connection.id, api.keyFor('admin'));

    for (const role of ROLES) {
      const key = api.keyFor(role);
      const all = await api.get('/api/v1/connections', key.auth);
      expect(all.status, role).toBe(200);
      expect(ConnectionsPage.parse(all.json).items.map((item) => item.id)).toEqual([c, b, a].map((made) => made.connection.id));
      expect(all.headers.get('relay-event-id')).toMatch(/^\d+$/);
      const one = await api.get(`/api/v1/connections/${b.connection.id}`, key.auth);
      expect(one.status, role).toBe(200);
      expect(Connection.parse(one.json)).toEqual(api.store.connections.get(b.connection.id));
    }

    const viewer = api.keyFor('viewer');
    const active = ConnectionsPage.parse((await api.get('/api/v1/connections?state=active', viewer.auth)).json);
    expect(active.items.map((item) => [item.firstName, item.state])).toEqual([['Edsger', 'active'], ['Grace', 'active']]);
    const revoked = ConnectionsPage.parse((await api.get('/api/v1/connections?state=revoked', viewer.auth)).json);
    expect(revoked.items.map((item) => item.firstName)).toEqual(['Ada']);

    const first = await api.get('/api/v1/connections?limit=2', viewer.auth);
    const page = ConnectionsPage.parse(first.json);
    expect(page.items).toHaveLength(2);
    expect(first.headers.get('link')).toBe(`<?limit=2&cursor=${page.nextCursor}>; rel="next"`);
    const second = ConnectionsPage.parse((await api.get(`/api/v1/connections?limit=2&cursor=${page.nextCursor}`, viewer.auth)).json);
    expect(second).toEqual({ items: [expect.objectContaining({ id: a.connection.id })], nextCursor: null });
  });

  it('answers 404 for an unknown id, 400 for a bad state, limit or cursor', async () => {
    const { api } = w();
    await w().connect('password');
    const viewer = api.keyFor('viewer');
    expect(errorOf(await api.get('/api/v1/connections/con_nope', viewer.auth)).code).toBe('not_found');
    expect(errorOf(await api.get('/api/v1/connections?state=broken', viewer.auth))).toMatchObject({
      code: 'invalid_request',
      message: 'query parameter state: must be one of active, refresh_failed, revoked (leave it out for all)',
    });
    expect(errorOf(await api.get('/api/v1/connections?limit=0', viewer.auth)).code).toBe('invalid_request');
    expect(errorOf(await api.get('/api/v1/connections?cursor=c.nope', viewer.auth)).code).toBe('bad_cursor');
  });
});

describe("the broker's token", () => {
  it.each(['password', 'legacy'] as const)('is the traveller\'s own (%s): the sandbox\'s User API takes it; no-store; audited without the token', async (form) => {
    const { api } = w();
    const { connection, userId, tokens } = await w().connect(form);
    const broker = api.keyFor('broker', 'Back office');
    const answer = await readToken(connection.id, broker);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const token = ConnectionToken.parse(answer.json);
    expect(token).toEqual({ accessToken: tokens.accessToken, tokenType: 'Bearer', expiresAt: connection.accessTokenExpiresAt, instanceUrl: connection.instanceUrl });
    const call = await userApi(token.accessToken, token.tokenType);
    expect(call.status).toBe(200);
    expect(JSON.stringify(call.profile)).toContain(userId);

    // Every read is in the trail, with the broker as actor and never the token.
    await readToken(connection.id, broker);
    const reads = auditOf('connection.token_read');
    expect(reads).toHaveLength(2);
    expect(reads[0]).toMatchObject({
      actor: { keyId: broker.key.id, name: 'Back office' },
      target: connection.id,
      details: { expiresAt: connection.accessTokenExpiresAt, refreshed: false },
    });
    expect(await w().refreshCalls()).toEqual([]);
  });

  it('is refreshed first when under 5 minutes remain, and not before', async () => {
    const { api } = w();
    const { connection, userId, tokens } = await w().connect('password');
    const broker = api.keyFor('broker');
    // 6 minutes left: handed out as it is.
    await w().advance(54 * MINUTE);
    expect(ConnectionToken.parse((await readToken(connection.id, broker)).json).accessToken).toBe(tokens.accessToken);
    expect(await w().refreshCalls()).toEqual([]);

    // 4 minutes left: refreshed at the sandbox first, the new token handed out.
    await w().advance(2 * MINUTE);
    const answer = await readToken(connection.id, broker);
    expect(answer.status).toBe(200);
    const token = ConnectionToken.parse(answer.json);
    expect(token.accessToken).not.toBe(tokens.accessToken);
    expect(Date.parse(token.expiresAt)).toBe(w().now() + HOUR);
    expect((await userApi(token.accessToken)).status).toBe(200);
    expect(await w().grant(userId)).toMatchObject({ refreshCount: 1 });
    expect(api.store.connections.get(connection.id)).toMatchObject({ state: 'active', accessTokenExpiresAt: token.expiresAt });
    expect(auditOf('connection.token_read')[0]?.details).toEqual({ expiresAt: token.expiresAt, refreshed: true });
  });

  it('is refused 409 connection_broken when the refresh it needed is refused for good (the connection breaks)', async () => {
    const { api } = w();
    const { connection, tokens } = await w().connect('password');
    await fetch(`${w().sb.url}/app-mgmt/v0/connections`, { method: 'DELETE', headers: { Authorization: `Bearer ${tokens.accessToken}` } });
    await w().advance(58 * MINUTE);
    const answer = await readToken(connection.id, api.keyFor('broker'));
    expect(answer.status).toBe(409);
    expect(errorOf(answer)).toEqual({
      code: 'connection_broken',
      message: expect.stringMatching(new RegExp(`^connection ${connection.id} is broken: Concur refused to refresh its tokens for good \\(refresh: .*code 108.*\\); the traveller must connect again$`)),
    });
    expect(api.store.connections.get(connection.id)?.state).toBe('refresh_failed');
    expect(auditOf('connection.token_read')).toEqual([]);
  });

  it('answers 503 refresh_unavailable with Retry-After when Concur cannot refresh it now; the connection stays active', async () => {
    const { api, sb } = w();
    const { connection } = await w().connect('password');
    await fetch(`${sb.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ route: 'refresh', kind: 'status503', times: 1, retryAfterSeconds: 90 }),
    });
    await w().advance(58 * MINUTE);
    const broker = api.keyFor('broker');
    const answer = await readToken(connection.id, broker);
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('90');
    expect(errorOf(answer)).toEqual({
      code: 'refresh_unavailable',
      message: `the access token of connection ${connection.id} expires at ${connection.accessTokenExpiresAt}, in under 5 minutes, and Concur could not refresh it just now (refresh: Concur answered 503); try again later`,
    });
    expect(api.store.connections.get(connection.id)?.state).toBe('active');
    expect(auditOf('connection.token_read')).toEqual([]);
    // The fault is spent; asked again, the broker gets a fresh token.
    expect((await readToken(connection.id, broker)).status).toBe(200);
  });

  it('is refused to every role but broker, and refused 409 connection_revoked once the connection is revoked', async () => {
    const { api } = w();
    const { connection } = await w().connect('password');
    for (const role of ['viewer', 'replier', 'admin'] as const) {
      const answer = await readToken(connection.id, api.keyFor(role));
      expect(answer.status, role).toBe(403);
      expect(errorOf(answer).message).toMatch(/may not read travellers' tokens; that needs the broker role$/);
    }
    expect((await revoke(connection.id, api.keyFor('admin'))).status).toBe(200);
    const answer = await readToken(connection.id, api.keyFor('broker'));
    expect(answer.status).toBe(409);
    expect(errorOf(answer)).toEqual({
      code: 'connection_revoked',
      message: `connection ${connection.id} was revoked and its tokens erased; the traveller must connect again`,
    });
    expect(errorOf(await readToken('con_nope', api.keyFor('broker'))).code).toBe('not_found');
  });
});

describe('revoking a connection', () => {
  it.each([
    ['password', 'app-mgmt'],
    ['legacy', 'revoketoken'],
  ] as const)('revokes the %s grant at the sandbox, erases the tokens, audits it and sends connection.revoked', async (form, revokedBy) => {
    const { api, webhooks } = w();
    await w().subscribe(['connection.revoked', 'connection.broken']);
    const { connection, userId, tokens } = await w().connect(form);
    const admin = api.keyFor('admin', 'Root');
    const answer = await revoke(connection.id, admin);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('relay-concur-revocation')).toBe('revoked');
    const revoked = Connection.parse(answer.json);
    expect(revoked).toMatchObject({ id: connection.id, state: 'revoked' });

    expect(await w().grant(userId)).toMatchObject({ revoked: true, revokedBy });
    expect((await userApi(tokens.accessToken, form === 'legacy' ? 'OAuth' : 'Bearer')).status).toBe(403);
    expect(api.store.connections.tokens(connection.id)).toBeUndefined();
    expect(auditOf('connection.revoked')).toEqual([
      expect.objectContaining({ actor: { keyId: admin.key.id, name: 'Root' }, target: connection.id, details: { requestId: connection.requestId, concur: 'revoked' } }),
    ]);
    await webhooks.drain();
    expect(w().received()).toEqual([{ type: 'connection.revoked', timestamp: expect.any(String), data: revoked }]);
    // Nothing is refreshed any more.
    expect(api.store.connections.nextRefreshAt()).toBeNull();

    // Again: answered as it is, nothing asked of Concur.
    const again = await revoke(connection.id, admin);
    expect(again.status).toBe(200);
    expect(again.headers.get('relay-concur-revocation')).toBe('not_attempted');
    expect(Connection.parse(again.json)).toEqual(revoked);
    expect(auditOf('connection.revoked')).toHaveLength(1);
  });

  it('still revokes here when Concur fails, and says so (header, audit, log)', async () => {
    const { api, sb } = w();
    const { connection, userId } = await w().connect('password');
    await fetch(`${sb.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ route: 'revoke', kind: 'status503' }),
    });
    const answer = await revoke(connection.id, api.keyFor('admin'));
    expect(answer.status).toBe(200);
    expect(answer.headers.get('relay-concur-revocation')).toBe('failed');
    expect(Connection.parse(answer.json).state).toBe('revoked');
    expect(api.store.connections.tokens(connection.id)).toBeUndefined();
    expect(await w().grant(userId)).toMatchObject({ revoked: false });
    expect(auditOf('connection.revoked')[0]?.details).toEqual({ requestId: connection.requestId, concur: 'failed', concurError: 'revoke: Concur answered 503' });
    expect(w().log.lines().some((line) => line.level === 40 && line.connectionId === connection.id && String(line.msg).startsWith('Concur did not take the revocation'))).toBe(true);
  });

  it('revokes a broken connection too (its tokens are still there to erase)', async () => {
    const { api, refresher } = w();
    const { connection, tokens } = await w().connect('password');
    await fetch(`${w().sb.url}/app-mgmt/v0/connections`, { method: 'DELETE', headers: { Authorization: `Bearer ${tokens.accessToken}` } });
    await w().advance(50 * MINUTE);
    await refresher.drain();
    expect(api.store.connections.get(connection.id)?.state).toBe('refresh_failed');
    const answer = await revoke(connection.id, api.keyFor('admin'));
    expect(answer.status).toBe(200);
    // Concur had nothing left to revoke: that counts as revoked.
    expect(answer.headers.get('relay-concur-revocation')).toBe('revoked');
    expect(api.store.connections.tokens(connection.id)).toBeUndefined();
  });

  it('is for admins only', async () => {
    const { api } = w();
    const { connection } = await w().connect('password');
    for (const role of ['viewer', 'replier', 'broker'] as const) {
      const answer = await revoke(connection.id, api.keyFor(role));
      expect(answer.status, role).toBe(403);
    }
    expect(api.store.connections.get(connection.id)?.state).toBe('active');
  });
});
