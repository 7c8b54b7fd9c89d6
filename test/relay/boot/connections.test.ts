import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionToken } from '../../../shared/connections.js';
import { parseConfig } from '../../../relay/base/config.js';
import { ExchangeClient } from '../../../relay/concur/exchange.js';
import { startRelay, type RunningRelay } from '../../../relay/boot/runtime.js';
import { startSandbox, type RunningSandbox } from '../../../relay/sandbox/server.js';
import { eventually, tempDb } from '../../helpers/relay-process.js';
import { TEST_VAULT_KEY } from '../../helpers/vault.js';
import { captureLog, type CapturedLog } from '../helpers.js';
import { record } from '../store/helpers.js';

/**
 * The connections as the relay wires them: with the partner's credentials (sandbox mode: the
 * sandbox's own) the refresh worker runs from the start and a new connection wakes it, and the
 * API's broker refreshes and revokes at Concur; without them the relay says so once at start-up,
 * refreshes nothing, and revokes only its own copy.
 */

const relays: RunningRelay[] = [];
const sandboxes: RunningSandbox[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.close()));
  await Promise.all(sandboxes.splice(0).map((sb) => sb.close()));
});

const NOT_REFRESHED = /^connections are not refreshed: the relay has no partner credentials/;

async function start(env: Record<string, string>, log: CapturedLog): Promise<RunningRelay> {
  const parsed = parseConfig({ RELAY_DB: tempDb(), RELAY_PORT: '0', SANDBOX_DEMO_EVERY_SECONDS: '0', ...env });
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  const relay = await startRelay(parsed.config, { logger: log.logger });
  relays.push(relay);
  return relay;
}

let made = 0;

/** A request at the sandbox, exchanged with the sandbox's own credentials, stored as a connection due `dueAt`. */
async function connect(sb: RunningSandbox, relay: RunningRelay, dueAt: number) {
  const userId = `7d2f0c1a-0000-4000-8000-${String(++made).padStart(12, '0')}`;
  const request = sb.state.add({ userId, firstName: 'Ada', lastName: 'Lovelace' });
  // As the poller would have brought it in.
  relay.store.requests.upsertFromConcur([record(request.id, { userId, requestToken: request.requestToken })], new Date().toISOString());
  const exchange = new ExchangeClient({ form: 'password', baseUrl: sb.url, tokenUrl: `${sb.url}/oauth2/v0/token`, clientId: sb.clientId, clientSecret: sb.clientSecret });
  const tokens = await exchange.exchange({ requestToken: request.requestToken, userId });
  const connection = relay.store.connections.create({ requestId: request.id, form: 'password', tokens, connectedBy: 'test', nextRefreshAt: dueAt });
  return { connection, userId, tokens };
}

async function grantOf(sb: RunningSandbox, userId: string): Promise<Record<string, unknown>> {
  const { grants } = (await (await fetch(`${sb.url}/_sandbox/users/${userId}`)).json()) as { grants: Array<Record<string, unknown>> };
  return grants[0]!;
}

function brokerKey(relay: RunningRelay): string {
  return relay.store.keys.create({ name: 'back office', role: 'broker' }, { keyId: null, name: 'test' }).secret;
}

describe('with the partner credentials (sandbox mode)', () => {
  it('refreshes a due connection at once, hands its token to a broker, and revokes it at the sandbox', async () => {
    const log = captureLog();
    const relay = await start({}, log);
    const sb = relay.sandbox!;
    const { connection, userId, tokens } = await connect(sb, relay, Date.now());
    // The worker is woken by the new connection: no waiting for its next look.
    await eventually(async () => (await grantOf(sb, userId)).refreshCount === 1, 5000);
    const refreshed = await eventually(() => relay.store.connections.get(connection.id)?.lastRefreshedAt !== null && relay.store.connections.get(connection.id));
    expect(refreshed.state).toBe('active');
    const rotated = relay.store.connections.tokens(connection.id)!.refreshToken;

    const answer = await fetch(`${relay.url}/api/v1/connections/${connection.id}/token`, { method: 'POST', headers: { Authorization: `Bearer ${brokerKey(relay)}` } });
    expect(answer.status).toBe(200);
    const token = ConnectionToken.parse(await answer.json());
    expect(token.accessToken).not.toBe(tokens.accessToken);
    expect((await fetch(`${sb.url}/api/user/v1.0/User`, { headers: { Authorization: `Bearer ${token.accessToken}` } })).status).toBe(200);

    const revoked = await fetch(`${relay.url}/api/v1/connections/${connection.id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${relay.apiKeys[0]}` } });
    expect(revoked.status).toBe(200);
    expect(revoked.headers.get('relay-concur-revocation')).toBe('revoked');
    expect(await grantOf(sb, userId)).toMatchObject({ revoked: true, revokedBy: 'app-mgmt' });

    expect(log.lines().filter((line) => NOT_REFRESHED.test(String(line.msg)))).toEqual([]);
    for (const secret of [tokens.accessToken, tokens.refreshToken, token.accessToken, rotated]) expect(log.text()).not.toContain(secret);
  });
});

describe('without partner credentials (a static Concur token)', () => {
  it('says so once at start-up, refreshes nothing, hands out a fresh token, and revokes only its own copy', async () => {
    const sb = await startSandbox({ seed: false, random: 3 });
    sandboxes.push(sb);
    const log = captureLog();
    const relay = await start(
      { CONCUR_BASE_URL: sb.url, CONCUR_ACCESS_TOKEN: sb.accessToken, RELAY_API_KEYS: 'connections-test-key-0123456789', RELAY_VAULT_KEY: TEST_VAULT_KEY },
      log,
    );
    expect(log.lines().filter((line) => NOT_REFRESHED.test(String(line.msg)))).toHaveLength(1);
    const { connection, userId } = await connect(sb, relay, Date.now());
    const broker = brokerKey(relay);

    const answer = await fetch(`${relay.url}/api/v1/connections/${connection.id}/token`, { method: 'POST', headers: { Authorization: `Bearer ${broker}` } });
    expect(answer.status).toBe(200);
    expect(await grantOf(sb, userId)).toMatchObject({ refreshCount: 0 });

    const revoked = await fetch(`${relay.url}/api/v1/connections/${connection.id}`, { method: 'DELETE', headers: { Authorization: 'Bearer connections-test-key-0123456789' } });
    expect(revoked.status).toBe(200);
    expect(revoked.headers.get('relay-concur-revocation')).toBe('not_attempted');
    expect(relay.store.connections.tokens(connection.id)).toBeUndefined();
    expect(await grantOf(sb, userId)).toMatchObject({ revoked: false });
    expect(relay.store.audit.list({ limit: 10 }).items[0]).toMatchObject({
      action: 'connection.revoked',
      details: { concur: 'not_attempted', concurError: 'the relay has no partner credentials' },
    });
    // Still said once only.
    expect(log.lines().filter((line) => NOT_REFRESHED.test(String(line.msg)))).toHaveLength(1);
  });
});
