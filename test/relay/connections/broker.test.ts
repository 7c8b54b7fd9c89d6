import { describe, expect, it } from 'vitest';
import { createBroker } from '../../../relay/connections/broker.js';
import { connectionsWorld, HOUR, MINUTE } from './helpers.js';

/**
 * The broker where the relay cannot refresh: without partner credentials, and while it stops. (Its
 * routes, with a refresher at work, are tested in test/relay/api/routes/connections.test.ts.)
 */

const w = connectionsWorld();
const ACTOR = { keyId: null, name: 'back office' };

describe('a broker without partner credentials', () => {
  it('hands out a token while it has 5 minutes left, then says it cannot refresh it, and why', async () => {
    const { api, log } = w();
    const broker = createBroker({ store: api.store, refresher: null, concur: null, logger: log.logger, now: api.clock.now });
    const { connection, tokens } = await w().connect('password');
    await w().advance(54 * MINUTE);
    expect(await broker.readToken(connection.id, ACTOR)).toMatchObject({ kind: 'token', token: { accessToken: tokens.accessToken } });

    await w().advance(2 * MINUTE);
    expect(await broker.readToken(connection.id, ACTOR)).toEqual({
      kind: 'unavailable',
      message: `the access token of connection ${connection.id} expires at ${connection.accessTokenExpiresAt}, in under 5 minutes, and the relay cannot refresh it: it has no partner credentials (the client id and secret Concur's refresh needs); try again later`,
      retryAfterSeconds: 30,
    });
    await w().advance(HOUR);
    expect(await broker.readToken(connection.id, ACTOR)).toMatchObject({
      kind: 'unavailable',
      message: expect.stringMatching(new RegExp(`^the access token of connection ${connection.id} expired at ${connection.accessTokenExpiresAt}, and the relay cannot refresh it`)),
    });
    expect(await w().refreshCalls()).toEqual([]);
    // Only the token handed out is in the trail.
    expect(api.store.audit.list({ limit: 10 }).items.filter((entry) => entry.action === 'connection.token_read')).toHaveLength(1);
  });
});

describe('a broker while the refresher stops', () => {
  it('starts no refresh (the store may be closing under it) and says the relay is shutting down', async () => {
    const { api, refresher } = w();
    const { connection } = await w().connect('password');
    await refresher.stop();
    await w().advance(57 * MINUTE);
    const read = await api.post(`/api/v1/connections/${connection.id}/token`, undefined, api.keyFor('broker').auth);
    expect(read.status).toBe(503);
    expect(read.json).toMatchObject({ error: { code: 'refresh_unavailable', message: expect.stringContaining('the relay could not refresh it: the relay is shutting down') } });
    expect(await w().refreshCalls()).toEqual([]);
    // Started again, it refreshes.
    refresher.start();
    expect((await api.post(`/api/v1/connections/${connection.id}/token`, undefined, api.keyFor('broker').auth)).status).toBe(200);
    expect(await w().refreshCalls()).toHaveLength(1);
  });
});
