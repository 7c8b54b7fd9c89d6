import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionRequest, RequestsPage } from '../../../shared/models.js';
import { parseConfig } from '../../../relay/base/config.js';
import { createLogger } from '../../../relay/base/log.js';
import { startRelay, type RunningRelay } from '../../../relay/boot/runtime.js';
import { startSandbox } from '../../../relay/sandbox/server.js';
import { eventually, tempDb } from '../../helpers/relay-process.js';
import { TEST_VAULT_KEY } from '../../helpers/vault.js';
import { REQUEST_TOKEN_LIFETIME_MS } from '../../../shared/status.js';

/**
 * CONCUR_API_VERSION=3.2 from the environment to the wire, in sandbox mode: the relay gets its app
 * token by the client-credentials grant, polls the sandbox's 3.2 queue as JSON, shows the
 * travellers' userId and e-mail addresses, and a CRSUC goes by the password grant and a JSON PUT
 * that pops the request from the queue.
 */

let relay: RunningRelay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

async function start(env: Record<string, string>): Promise<RunningRelay> {
  const parsed = parseConfig({ RELAY_DB: tempDb(), RELAY_PORT: '0', SANDBOX_DEMO_EVERY_SECONDS: '0', POLL_INTERVAL_SECONDS: '1', ...env });
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  relay = await startRelay(parsed.config, { logger: createLogger({ level: 'silent' }), outboxBaseDelayMs: 10 });
  return relay;
}

async function api<T>(r: RunningRelay, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${r.url}${path}`, { ...init, headers: { authorization: `Bearer ${r.apiKeys[0]}`, 'content-type': 'application/json', ...init.headers } });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
  return (await res.json()) as T;
}

describe('the relay under CONCUR_API_VERSION=3.2 (sandbox mode)', () => {
  it('polls 3.2 with a client-credentials token, shows userId and e-mail addresses, and connects by a JSON PUT that pops the request', async () => {
    // Auto-connect off: the demo directory's members would be connected before the test's own reply.
    const r = await start({ CONCUR_API_VERSION: '3.2', RELAY_AUTO_REPLY: 'off' });
    const sandbox = r.sandbox!;
    // 3.2's queue: Pending, or Processing once a list handed the token out (written as Pending).
    const expected = sandbox.state.all().filter((request) => request.status === 'Pending' || request.status === 'Processing');
    const items = await eventually(async () => {
      const page = await api<RequestsPage>(r, '/api/v1/requests?limit=200');
      return page.items.length === expected.length ? page.items : undefined;
    });
    const byId = new Map(items.map((item) => [item.id, item]));
    for (const request of expected) {
      expect(byId.get(request.id)).toMatchObject({ userId: request.userId, emailAddresses: [...request.emailAddresses], discountCode: null, group: 'pending' });
    }
    expect(items[0]!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    const calls = sandbox.calls.list();
    expect(calls.find((call) => call.route === 'token')).toMatchObject({ grantType: 'client_credentials', status: 200 });
    expect(calls.filter((call) => call.route === 'list').every((call) => call.path === '/api/v3.2/common/connectionrequests/' && call.authScheme === 'Bearer' && call.format === 'json')).toBe(true);

    const target = expected.find((request) => !sandbox.state.isRequestTokenExpired(request))!;
    await api(r, `/api/v1/requests/${target.id}/reply`, { method: 'POST', body: JSON.stringify({ status: 'CRSUC' }) });
    const connected = await eventually(async () => {
      const one = await api<ConnectionRequest>(r, `/api/v1/requests/${target.id}`);
      return one.reply?.state === 'sent' ? one : undefined;
    });
    expect(connected).toMatchObject({ group: 'connected', reply: { status: 'CRSUC' } });
    expect(connected.connectionId).not.toBeNull();
    expect(sandbox.state.get(target.id)!.status).toBe('Connected');
    const put = sandbox.calls.list().find((call) => call.route === 'put' && call.requestId === target.id);
    expect(put).toMatchObject({ path: `/api/v3.2/common/connectionrequests/${target.id}`, putStatus: 'CRSUC', status: 204 });
    // Its own exchange (sandbox mode's auto-connect exchanges others', some with expired tokens: 400).
    const exchange = sandbox.calls.list().find((call) => call.route === 'token' && call.grantType === 'password' && call.form?.username === target.userId);
    expect(exchange?.status).toBe(200);
  });

  it('against a Concur (the sandbox as one, over HTTP): CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET alone, and no secret in what the API says', async () => {
    const concur = await startSandbox({ seed: 4, random: 9, ids: 'guid' });
    try {
      const r = await start({
        CONCUR_API_VERSION: '3.2',
        CONCUR_BASE_URL: concur.url,
        CONCUR_CLIENT_ID: concur.clientId,
        CONCUR_CLIENT_SECRET: concur.clientSecret,
        RELAY_API_KEYS: 'k3y-0123456789abcdef-relay',
        RELAY_VAULT_KEY: TEST_VAULT_KEY,
      });
      expect(r.sandbox).toBeNull();
      const page = await eventually(async () => {
        const answer = await api<RequestsPage>(r, '/api/v1/requests?limit=200');
        return answer.items.length === 4 ? answer : undefined;
      });
      expect(page.items.every((item) => item.emailAddresses.length > 0 && item.retryLimit === 48 && item.userErrorLimit === 4)).toBe(true);
      const calls = concur.calls.list();
      expect(calls.filter((call) => call.route === 'token').map((call) => call.grantType)).toEqual(['client_credentials']);
      expect(calls.some((call) => call.route === 'list' && call.authScheme === 'Bearer' && call.auth === 'ok')).toBe(true);
      const text = JSON.stringify(page);
      for (const secret of [concur.clientSecret, ...concur.state.all().map((request) => request.requestToken)]) expect(text).not.toContain(secret);
    } finally {
      await relay?.close();
      relay = undefined;
      await concur.close();
    }
  });
});

describe('sandbox mode: the sandbox it starts keeps request tokens as long as the relay assumes', () => {
  it.each(['3.0', '3.2'] as const)('API %s: the expiry the API shows for a new request is the one the sandbox enforces', async (version) => {
    const r = await start({ CONCUR_API_VERSION: version, RELAY_AUTO_REPLY: 'off' });
    const sandbox = r.sandbox!;
    const added = sandbox.state.add();
    const shown = await eventually(async () => {
      const one = await fetch(`${r.url}/api/v1/requests/${added.id}`, { headers: { authorization: `Bearer ${r.apiKeys[0]}` } });
      return one.status === 200 ? ((await one.json()) as ConnectionRequest) : undefined;
    });
    const enforced = (await (await fetch(`${sandbox.url}/_sandbox/requests/${added.id}`)).json()) as { request: { requestTokenExpiresAt: string } };
    const lifetime = Date.parse(enforced.request.requestTokenExpiresAt) - added.requestTokenIssuedAt;
    expect(lifetime).toBe(REQUEST_TOKEN_LIFETIME_MS[version]);
    // The relay counts from when it first saw the token, a poll after the sandbox issued it.
    const apart = Date.parse(shown.requestTokenExpiresAt!) - Date.parse(enforced.request.requestTokenExpiresAt);
    expect(apart).toBeGreaterThanOrEqual(0);
    expect(apart).toBeLessThan(60_000);
  });
});
