import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRelayClient } from '../../../extension/lib/relay-client.js';
import { API_KEY, ApiServer, record } from '../../relay/api/helpers.js';

/**
 * The extension's relay client against the real relay app on loopback: snapshots say where they
 * stand in the live events (Relay-Event-Id), a list read in pages by its lowest page.
 */

let s: ApiServer;
beforeEach(async () => {
  s = await new ApiServer().start();
});
afterEach(async () => {
  await s.stop();
});

const minute = (i: number) => new Date(Date.parse('2024-05-01T09:00:00Z') + i * 60_000).toISOString().replace('.000', '');

function seedPending(count: number): void {
  s.store.requests.upsertFromConcur(
    Array.from({ length: count }, (_, i) => record(`P${i}`, { lastModified: minute(i) })),
    s.clock.iso(),
  );
}

describe('relay client snapshots', () => {
  it('reads the summary and a whole group with the event they stand at', async () => {
    seedPending(450);
    const client = createRelayClient({ relayUrl: s.url, apiKey: API_KEY });
    const latest = s.store.events.latestId();
    expect(await client.summarySnapshot()).toMatchObject({ value: { counts: { pending: 450 } }, eventId: latest });
    const group = await client.groupSnapshot('pending');
    expect(group.value).toHaveLength(450);
    expect(new Set(group.value.map((r) => r.id)).size).toBe(450);
    expect(group.eventId).toBe(latest);
  });

  it('a group read across a change stands at its earliest page', async () => {
    seedPending(450);
    const before = s.store.events.latestId();
    let pages = 0;
    // After the first page (of three), Concur brings a change.
    const fetchImpl: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (String(input).includes('/requests') && ++pages === 1) {
        s.store.requests.upsertFromConcur([record('P0', { lastModified: minute(0), firstName: 'Changed' })], s.clock.iso());
      }
      return res;
    };
    const group = await createRelayClient({ relayUrl: s.url, apiKey: API_KEY }, fetchImpl).groupSnapshot('pending');
    expect(pages).toBe(3);
    expect(s.store.events.latestId()).toBeGreaterThan(before);
    expect(group.eventId).toBe(before);
  });

  it('says null when the relay does not say, and the answer is still read', async () => {
    seedPending(3);
    const withoutHeader: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const headers = new Headers(res.headers);
      headers.delete('relay-event-id');
      return new Response(await res.text(), { status: res.status, headers });
    };
    const client = createRelayClient({ relayUrl: s.url, apiKey: API_KEY }, withoutHeader);
    expect(await client.groupSnapshot('pending')).toMatchObject({ eventId: null });
    expect((await client.groupSnapshot('pending')).value).toHaveLength(3);
    expect((await client.summarySnapshot()).eventId).toBeNull();
  });
});

describe('who the key is (GET /api/v1/me)', () => {
  const cli = { keyId: null, name: 'cli' };

  it('names the key and its role; a revoked key is refused', async () => {
    const { key, secret } = s.store.keys.create({ name: 'Alice', role: 'replier' }, cli);
    const client = createRelayClient({ relayUrl: s.url, apiKey: secret });
    expect(await client.me()).toEqual({ name: 'Alice', role: 'replier', prefix: key.prefix });
    s.store.keys.revoke(key.id, cli);
    await expect(client.me()).rejects.toMatchObject({ problem: 'key_refused' });
  });

  it('is null from a relay that has no such route, whether its 404 is JSON or not', async () => {
    // The relay's own answer to a route it does not have, standing in for an older relay's.
    const older: typeof fetch = (input, init) => fetch(String(input).replace('/api/v1/me', '/api/v1/no-such-route'), init);
    expect(await createRelayClient({ relayUrl: s.url, apiKey: API_KEY }, older).me()).toBeNull();
    const proxy: typeof fetch = async () => new Response('<h1>Not Found</h1>', { status: 404, headers: { 'content-type': 'text/html' } });
    expect(await createRelayClient({ relayUrl: s.url, apiKey: API_KEY }, proxy).me()).toBeNull();
  });
});

describe('the connections (GET /api/v1/connections)', () => {
  const made = (i: number) => ({
    id: `con_${i}`,
    requestId: `R${i}`,
    concurUserId: null,
    firstName: 'Ada',
    lastName: `Traveller${i}`,
    loyaltyNumber: `LN${i}`,
    memberId: null,
    instanceUrl: 'https://us.api.concursolutions.com/',
    state: 'active',
    connectedAt: minute(i),
    connectedBy: 'Alice',
    accessTokenExpiresAt: minute(i + 60),
    refreshTokenExpiresAt: null,
    lastRefreshedAt: null,
    lastError: null,
  });

  /** A relay with the route, as the contract has it: pages of `limit`, a cursor, Relay-Event-Id on each. */
  function withRoute(total: number, eventIds: number[]): { fetchImpl: typeof fetch; urls: string[] } {
    const urls: string[] = [];
    const all = Array.from({ length: total }, (_, i) => made(total - i));
    const fetchImpl: typeof fetch = async (input) => {
      const url = new URL(String(input));
      urls.push(`${url.pathname}${url.search}`);
      const offset = Number(url.searchParams.get('cursor') ?? '0');
      const limit = Number(url.searchParams.get('limit'));
      const items = all.slice(offset, offset + limit);
      const nextCursor = offset + limit < all.length ? String(offset + limit) : null;
      const eventId = eventIds[Math.min(urls.length - 1, eventIds.length - 1)]!;
      return Response.json({ items, nextCursor }, { headers: { 'relay-event-id': String(eventId) } });
    };
    return { fetchImpl, urls };
  }

  it('reads every page, newest first, validated by the shared model, and stands at its earliest page', async () => {
    const { fetchImpl, urls } = withRoute(450, [12, 10, 11]);
    const listed = await createRelayClient({ relayUrl: s.url, apiKey: API_KEY }, fetchImpl).connectionsSnapshot();
    expect(urls).toEqual(['/api/v1/connections?limit=200', '/api/v1/connections?limit=200&cursor=200', '/api/v1/connections?limit=200&cursor=400']);
    expect(listed.value).toHaveLength(450);
    expect(listed.value?.[0]).toMatchObject({ id: 'con_450', state: 'active', connectedBy: 'Alice' });
    expect(listed.eventId).toBe(10);
  });

  it('is null from a relay that has no such route (404), whether its 404 is JSON or not', async () => {
    const older: typeof fetch = (input, init) => fetch(String(input).replace('/api/v1/connections', '/api/v1/no-such-route'), init);
    expect(await createRelayClient({ relayUrl: s.url, apiKey: API_KEY }, older).connectionsSnapshot()).toEqual({ value: null, eventId: null });
    const proxy: typeof fetch = async () => new Response('<h1>Not Found</h1>', { status: 404, headers: { 'content-type': 'text/html' } });
    expect((await createRelayClient({ relayUrl: s.url, apiKey: API_KEY }, proxy).connectionsSnapshot()).value).toBeNull();
  });

  it('an answer that does not fit the model is a relay error, not a list', async () => {
    const odd: typeof fetch = async () => Response.json({ items: [{ ...made(1), state: 'half-connected' }], nextCursor: null });
    await expect(createRelayClient({ relayUrl: s.url, apiKey: API_KEY }, odd).connectionsSnapshot()).rejects.toMatchObject({ problem: 'relay_error' });
  });
});

describe('a Connected the relay cannot carry out', () => {
  it('422 exchange_unavailable is its own problem, with the relay’s reason; any other 422 stays a relay error', async () => {
    const reason = 'Connecting needs CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET; they are not set';
    const answering = (body: unknown): typeof fetch => async () => Response.json(body, { status: 422 });
    const refused = createRelayClient({ relayUrl: s.url, apiKey: API_KEY }, answering({ error: { code: 'exchange_unavailable', message: reason } }));
    await expect(refused.reply('R1', 'CRSUC')).rejects.toMatchObject({ problem: 'exchange_unavailable', detail: reason });
    const other = createRelayClient({ relayUrl: s.url, apiKey: API_KEY }, answering({ error: { code: 'idempotency_mismatch', message: 'not the same body' } }));
    await expect(other.reply('R1', 'CRSUC')).rejects.toMatchObject({ problem: 'relay_error', detail: 'not the same body' });
  });
});

describe('a key whose role does not allow a call', () => {
  const answering =
    (status: number, body: unknown): typeof fetch =>
    async () =>
      Response.json(body, { status });

  it('403 forbidden is its own problem, with the relay’s words; any other 403 stays a relay error', async () => {
    const message = 'the API key trl_abcd… (Bob) is a viewer: it may not send replies';
    const refused = createRelayClient({ relayUrl: s.url, apiKey: API_KEY }, answering(403, { error: { code: 'forbidden', message } }));
    await expect(refused.reply('R1', 'CRSUC')).rejects.toMatchObject({ problem: 'forbidden', detail: message });
    const proxy = createRelayClient({ relayUrl: s.url, apiKey: API_KEY }, answering(403, { error: { code: 'waf', message: 'blocked' } }));
    await expect(proxy.reply('R1', 'CRSUC')).rejects.toMatchObject({ problem: 'relay_error' });
  });
});
