import { existsSync, readFileSync } from 'node:fs';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { WebhookCreated } from '../../../shared/models.js';
import { parseConfig } from '../../../relay/base/config.js';
import { createLogger } from '../../../relay/base/log.js';
import { startRelay, type RunningRelay } from '../../../relay/boot/runtime.js';
import { startSandbox, type RunningSandbox } from '../../../relay/sandbox/server.js';
import { eventually, tempDb } from '../../helpers/relay-process.js';
import { TEST_VAULT_KEY } from '../../helpers/vault.js';
import { Receiver } from '../push/webhooks/helpers.js';

/**
 * Issue 14, whole: the relay in-process against the sandbox over real HTTP stores every kind of
 * secret it keeps (request tokens, a CRRET's new token, webhook secrets before and after a
 * rotation, the refresh tokens Concur rotates, the travellers' tokens from two exchanges), and none of them is in the SQLite file or its WAL,
 * byte for byte. After a restart on the same file every one of them is read again and used.
 */

const API_KEY = 'secrets-at-rest-key-0123456789';

let sandbox: RunningSandbox | undefined;
let receiver: Receiver | undefined;
const relays: RunningRelay[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.close()));
  await receiver?.close();
  await sandbox?.close();
});

async function start(db: string, concur: RunningSandbox): Promise<RunningRelay> {
  const parsed = parseConfig({
    RELAY_DB: db,
    RELAY_PORT: '0',
    RELAY_API_KEYS: API_KEY,
    RELAY_VAULT_KEY: TEST_VAULT_KEY,
    CONCUR_BASE_URL: concur.url,
    CONCUR_CLIENT_ID: concur.clientId,
    CONCUR_CLIENT_SECRET: concur.clientSecret,
    CONCUR_REFRESH_TOKEN: concur.refreshToken,
    POLL_INTERVAL_SECONDS: '1',
    RELAY_WEBHOOK_ALLOW_PRIVATE: 'true',
  });
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  const relay = await startRelay(parsed.config, { logger: createLogger({ level: 'silent' }), outboxBaseDelayMs: 100 });
  relays.push(relay);
  return relay;
}

async function call(relay: RunningRelay, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${relay.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function sandboxRequests(concur: RunningSandbox): Promise<Array<{ id: string; requestToken: string }>> {
  const answer = (await (await fetch(`${concur.url}/_sandbox/requests`)).json()) as { requests: Array<{ id: string; requestToken: string }> };
  return answer.requests;
}

/** The secrets among `secrets` whose bytes are anywhere in `file` (none when there is no such file). */
function foundIn(file: string, secrets: Iterable<string>): string[] {
  if (!existsSync(file)) return [];
  const bytes = readFileSync(file);
  return [...secrets].filter((secret) => bytes.includes(Buffer.from(secret, 'utf8')));
}

async function newRefreshToken(relay: RunningRelay, concur: RunningSandbox, not: readonly string[]): Promise<string> {
  return eventually(() => {
    const token = relay.store.state.currentRefreshToken(concur.refreshToken);
    return !not.includes(token) && token;
  });
}

describe('secrets at rest, the whole relay', () => {
  it('keeps no request token, webhook secret or refresh token in clear in the file or its WAL, and reads them all again after a restart', async () => {
    const concur = (sandbox = await startSandbox({ seed: false, random: 14 }));
    for (let i = 0; i < 5; i++) concur.state.add();
    const hooks = (receiver = await new Receiver().start());
    const db = tempDb();
    const secrets = new Set<string>([concur.refreshToken]);

    let relay = await start(db, concur);
    // Polls: every request and its token is stored.
    await eventually(() => relay.store.requests.counts().pending === 5);
    for (const request of await sandboxRequests(concur)) secrets.add(request.requestToken);

    // The refresh-token grant ran for the first call: Concur rotated the refresh token, the relay kept the new one.
    const rotated1 = await newRefreshToken(relay, concur, [concur.refreshToken]);
    // Access tokens expire: the next call is refused, refreshes again, and a second rotated token is kept.
    expect((await fetch(`${concur.url}/_sandbox/tokens/expire`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(200);
    const rotated2 = await newRefreshToken(relay, concur, [concur.refreshToken, rotated1]);
    secrets.add(rotated1).add(rotated2);

    // A webhook, and its secret rotated (the old one keeps signing beside the new one for a day).
    const created = WebhookCreated.parse(await (await call(relay, 'POST', '/webhooks', { url: hooks.url, events: ['request.updated'] })).json());
    const rotatedSecret = WebhookCreated.parse(await (await call(relay, 'POST', `/webhooks/${created.webhook.id}/rotate-secret`)).json()).secret;
    secrets.add(created.secret).add(rotatedSecret);

    // A CRRET: Concur issues a new request token, which the next poll stores (sealed anew).
    const [first] = await sandboxRequests(concur);
    expect((await call(relay, 'POST', `/requests/${first!.id}/reply`, { status: 'CRRET' })).status).toBe(202);
    const nextToken = await eventually(async () => {
      const token = (await sandboxRequests(concur)).find((request) => request.id === first!.id)!.requestToken;
      return token !== first!.requestToken && relay.store.requests.getRequestToken(first!.id) === token && token;
    });
    secrets.add(nextToken);
    // The request.updated webhook is signed with the stored (sealed) secrets.
    const [message] = await hooks.waitFor(1);
    expect(new StandardWebhook(rotatedSecret).verify(message!.body, message!.headers)).toMatchObject({ type: 'request.updated' });

    // Two CRSUCs: each request token is exchanged for the traveller's access and refresh tokens,
    // stored (sealed) before the PUT. They are what Concur issued: the sandbox's User API takes them.
    const connected = (await sandboxRequests(concur)).slice(1, 3);
    for (const request of connected) expect((await call(relay, 'POST', `/requests/${request.id}/reply`, { status: 'CRSUC' })).status).toBe(202);
    const travellers = await eventually(() => {
      const held = connected.map((request) => relay.store.connections.byRequest(request.id));
      return held.every((c) => c !== undefined) && held.map((c) => relay.store.connections.tokens(c!.id)!);
    });
    for (const tokens of travellers) {
      const user = await fetch(new URL('api/user/v1.0/User', tokens.instanceUrl), { headers: { authorization: `OAuth ${tokens.accessToken}`, accept: 'application/json' } });
      expect(user.status, await user.clone().text()).toBe(200);
      secrets.add(tokens.accessToken).add(tokens.refreshToken);
    }

    // While it runs, the WAL holds the latest writes: neither it nor the file has any secret.
    expect(existsSync(`${db}-wal`)).toBe(true);
    // Five request tokens and the CRRET's new one, the configured and two rotated refresh tokens,
    // two webhook secrets, two travellers' access and refresh tokens.
    expect(secrets.size).toBe(5 + 1 + 3 + 2 + 4);
    expect(foundIn(`${db}-wal`, secrets)).toEqual([]);
    expect(foundIn(db, secrets)).toEqual([]);
    await relays.pop()!.close();
    expect(foundIn(db, secrets)).toEqual([]);
    expect(foundIn(`${db}-wal`, secrets)).toEqual([]);

    // Restarted on the same file: the stored refresh token (the only one Concur still takes) is
    // opened and used, the request token reads back, deliveries are signed with the stored secret.
    relay = await start(db, concur);
    const rotated3 = await newRefreshToken(relay, concur, [concur.refreshToken, rotated1, rotated2]);
    secrets.add(rotated3);
    await eventually(() => relay.store.state.summary().concur.state === 'ok');
    expect(relay.store.requests.getRequestToken(first!.id)).toBe(nextToken);
    // The travellers' tokens open again after the restart.
    for (const [i, request] of connected.entries()) {
      expect(relay.store.connections.tokens(relay.store.connections.byRequest(request.id)!.id)?.accessToken).toBe(travellers[i]!.accessToken);
    }
    const before = hooks.received.length;
    expect((await call(relay, 'POST', `/webhooks/${created.webhook.id}/test`)).status).toBe(202);
    const received = await hooks.waitFor(before + 1);
    const test = received.find((m) => m.body.includes('"webhook.test"'))!;
    expect(new StandardWebhook(rotatedSecret).verify(test.body, test.headers)).toMatchObject({ type: 'webhook.test' });
    expect(new StandardWebhook(created.secret).verify(test.body, test.headers)).toMatchObject({ type: 'webhook.test' });

    await relays.pop()!.close();
    expect(foundIn(db, secrets)).toEqual([]);
    expect(foundIn(`${db}-wal`, secrets)).toEqual([]);
  });
});
