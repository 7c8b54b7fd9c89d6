import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionRequest, ErrorBody, ReplyUpdatedData, Summary, WebhookCreated } from '../../../shared/models.js';
import { parseConfig } from '../../../relay/base/config.js';
import { createLogger } from '../../../relay/base/log.js';
import { startRelay, type RunningRelay } from '../../../relay/boot/runtime.js';
import { startSandbox, type RunningSandbox } from '../../../relay/sandbox/server.js';
import { eventually, tempDb } from '../../helpers/relay-process.js';
import { connectSse, type SseConnection } from '../../helpers/sse-client.js';
import { TEST_VAULT_KEY } from '../../helpers/vault.js';
import { Receiver } from '../push/webhooks/helpers.js';
import { VERSIONS, type VersionCase } from './versions.js';

/**
 * "Connected" means the traveller's tokens are stored: the whole relay (its API, outbox, poller
 * and store) against the sandbox over real HTTP. A click on CRSUC exchanges the request token,
 * stores the connection, then PUTs CRSUC; when Concur refuses the token, a CRRET gets a new one
 * and the CRSUC follows by itself. In API 3.0 (the legacy exchange) and 3.2 (the password grant;
 * the relay's calls with its static token as Bearer). The outbox's own rules, on a clock the test
 * moves: exchange-step.test.ts.
 */

const API_KEY = 'exchange-flow-key-0123456789';
let sandbox: RunningSandbox | undefined;
let relay: RunningRelay | undefined;
let stream: SseConnection | undefined;
let receiver: Receiver | undefined;
const logs: string[] = [];

afterEach(async () => {
  // Whatever a test did, no traveller's token the relay holds was said anywhere.
  if (relay !== undefined) {
    const said = await everythingSaid();
    for (const connection of relay.store.connections.list({ limit: 200 }).items) {
      const opened = relay.store.connections.tokens(connection.id);
      for (const secret of [opened?.accessToken, opened?.refreshToken]) if (secret !== undefined) expect(said).not.toContain(secret);
    }
  }
  stream?.close();
  await relay?.close();
  await sandbox?.close();
  await receiver?.close();
  stream = relay = sandbox = receiver = undefined;
  logs.length = 0;
});

/** A sandbox with `count` new pending requests, and the relay (speaking `v`'s version) against it once it has polled them. */
async function start(
  v: Pick<VersionCase, 'env' | 'ids' | 'quirks'>,
  env: (sb: RunningSandbox) => Record<string, string>,
  options: { count?: number; quirks?: Record<string, unknown> } = {},
) {
  const sb = await startSandbox({ seed: false, random: 71, ids: v.ids, quirks: { ...v.quirks, ...options.quirks } });
  sandbox = sb;
  const ids = Array.from({ length: options.count ?? 1 }, () => sb.state.add().id);
  const parsed = parseConfig({
    ...v.env,
    CONCUR_BASE_URL: sb.url,
    CONCUR_ACCESS_TOKEN: sb.accessToken,
    RELAY_API_KEYS: API_KEY,
    RELAY_VAULT_KEY: TEST_VAULT_KEY,
    RELAY_DB: tempDb(),
    RELAY_PORT: '0',
    POLL_INTERVAL_SECONDS: '1',
    RELAY_WEBHOOK_ALLOW_PRIVATE: 'true',
    ...env(sb),
  });
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  const destination = new Writable({ write: (chunk, _enc, done) => (logs.push(String(chunk)), done()) });
  relay = await startRelay(parsed.config, { logger: createLogger({ destination, level: 'debug' }), outboxBaseDelayMs: 20 });
  await eventually(() => relay!.store.requests.counts().pending === ids.length);
  return { sb, relay, ids };
}

const credentials = (sb: RunningSandbox) => ({ CONCUR_CLIENT_ID: sb.clientId, CONCUR_CLIENT_SECRET: sb.clientSecret });

function api(path: string, init: RequestInit = {}) {
  return fetch(`${relay!.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...init.headers },
  });
}
const click = (id: string, status = 'CRSUC') => api(`/api/v1/requests/${encodeURIComponent(id)}/reply`, { method: 'POST', body: JSON.stringify({ status }) });
const request = async (id: string) => ConnectionRequest.parse(await (await api(`/api/v1/requests/${encodeURIComponent(id)}`)).json());
const until = (id: string, state: string, timeoutMs = 10_000) =>
  eventually(async () => {
    const r = await request(id);
    return r.reply?.state === state && r;
  }, timeoutMs);

const putsOf = (id: string) => sandbox!.calls.list().filter((c) => c.route === 'put' && c.path.endsWith(`/${id}`)).map((c) => `${c.putStatus} ${c.status}`);
/** Exchanges of request tokens (the legacy one, the token endpoint's grants): not an app token of the relay's own. */
const tokenCalls = () =>
  sandbox!.calls
    .list()
    .filter((c) => c.route === 'exchange' || (c.route === 'token' && c.grantType !== 'client_credentials'))
    .map((c) => c.status);
const sandboxClock = (ms: number) => sandbox!.clock.advance(ms);
const replySteps = (id: string) =>
  relay!.store.events
    .after(0, 10_000)
    .flatMap((e) => (e.type === 'reply.updated' && e.data.requestId === id ? [`${e.data.reply.status} ${e.data.reply.state}`] : []));

/** The traveller's tokens the relay holds for `id`: opened from the vault. */
function heldTokens(id: string) {
  const connection = relay!.store.connections.byRequest(id);
  if (connection === undefined) throw new Error(`no connection for ${id}`);
  const opened = relay!.store.connections.tokens(connection.id);
  if (opened === undefined) throw new Error(`the tokens of ${connection.id} do not open`);
  return { connection, opened };
}

/** Everything the relay said to anyone: its log, its stored events, answers of its API, the live stream, webhooks. */
async function everythingSaid(): Promise<string> {
  const answers = await Promise.all(['/api/v1/requests?limit=200', '/api/v1/summary'].map(async (path) => (await api(path)).text()));
  return [logs.join(''), JSON.stringify(relay!.store.events.after(0, 10_000)), ...answers, stream?.raw() ?? '', ...(receiver?.received.map((r) => r.body) ?? [])].join('\n');
}

describe.each(VERSIONS)('API $version — CRSUC: the exchange first, then the PUT', (v) => {
  /** Once Concur took the relay's CRRET: the time until it lists the request again (3.2 popped it for an hour). */
  const backAfterCrret = async (id: string) => {
    await eventually(() => sandbox!.state.get(id)!.retries === 1);
    sandboxClock(v.crretAwayMs);
  };

  it("click → exchange → tokens stored → CRSUC; the token works at Concur's User API; every step an event; no token anywhere", async () => {
    const { sb, ids } = await start(v, credentials);
    const [id] = ids as [string];
    receiver = await new Receiver().start();
    const hook = await api('/api/v1/webhooks', { method: 'POST', body: JSON.stringify({ url: receiver.url, events: ['reply.sent', 'request.updated', 'connection.established'] }) });
    expect(hook.status).toBe(201);
    WebhookCreated.parse(await hook.json());
    stream = await connectSse(`${relay!.url}/api/v1/events`, { authorization: `Bearer ${API_KEY}` });

    const answer = await click(id);
    expect(answer.status).toBe(202);
    const after = await until(id, 'sent');
    const { connection, opened } = heldTokens(id);
    expect(after).toMatchObject({ group: 'connected', connectionId: connection.id, reply: { status: 'CRSUC', attempts: 1, requestedBy: 'env key 1' } });
    expect(connection).toMatchObject({ state: 'active', connectedBy: 'env key 1', instanceUrl: v.instanceUrl(sb.url) });
    expect(opened.form).toBe(v.exchange);
    expect(sb.calls.list().find((c) => c.route === 'put')?.path).toBe(`${v.resource}/${id}`);
    expect(putsOf(id)).toEqual(['CRSUC 204']);
    expect(tokenCalls()).toEqual([200]);

    const profile = await fetch(`${sb.url}/api/user/v1.0/User`, { headers: { authorization: `${v.travellerScheme} ${opened.accessToken}`, accept: 'application/json' } });
    expect(profile.status).toBe(200);
    expect(JSON.stringify(await profile.json())).toContain(sb.state.get(id)!.userId);

    expect(replySteps(id)).toEqual(['CRSUC queued', 'CRSUC exchanging', 'CRSUC queued', 'CRSUC sent']);
    const live = await stream.waitFor(() => {
      const steps = stream!.messages
        .filter((m) => m.event === 'reply.updated')
        .map((m) => ReplyUpdatedData.parse(JSON.parse(m.data)))
        .filter((d) => d.requestId === id)
        .map((d) => `${d.reply.status} ${d.reply.state}`);
      return steps.length === 4 ? steps : undefined;
    });
    expect(live).toEqual(replySteps(id));
    await receiver.waitFor(3);
    expect(receiver.received.map((r) => JSON.parse(r.body).type)).toEqual(expect.arrayContaining(['connection.established', 'reply.sent']));

    const said = await everythingSaid();
    for (const secret of [opened.accessToken, opened.refreshToken, sb.clientSecret]) expect(said).not.toContain(secret);
  });

  it('an expired request token: CRRET, and the next poll’s new token ends in CRSUC by itself (one click)', async () => {
    // Concur's tokens live 15 minutes here, whatever the relay takes (under 3.2 its guess is wrong).
    const { sb, ids } = await start(v, credentials, { quirks: { requestTokenLifetime: '15m' } });
    const [id] = ids as [string];
    sandboxClock(16 * 60_000);
    expect((await click(id)).status).toBe(202);
    await backAfterCrret(id);
    const after = await until(id, 'sent');
    expect(after).toMatchObject({ group: 'connected', retries: 1, reply: { status: 'CRSUC', attempts: 2, lastError: null } });
    expect(putsOf(id)).toEqual(['CRRET 204', 'CRSUC 204']);
    expect(tokenCalls()).toEqual([400, 200]);
    expect(replySteps(id)).toEqual([
      'CRSUC queued',
      'CRSUC exchanging',
      'CRRET queued',
      'CRRET waiting_token',
      'CRSUC exchanging',
      'CRSUC queued',
      'CRSUC sent',
    ]);
    const why = relay!.store.events.after(0, 10_000).flatMap((e) => (e.type === 'reply.updated' && e.data.reply.state === 'waiting_token' ? [e.data.reply.lastError] : []));
    expect(why).toEqual([expect.stringMatching(/Concur refused the request token .*expired.*CRRET/)]);
    heldTokens(id);
  });

  it('a request token already used: the same CRRET way', async () => {
    const { sb, ids } = await start(v, credentials);
    const [id] = ids as [string];
    // Someone else spends it first.
    const spend = new URL('/net2/oauth2/getaccesstoken.ashx', sb.url);
    for (const [key, value] of Object.entries({ code: sb.state.get(id)!.requestToken, client_id: sb.clientId, client_secret: sb.clientSecret })) spend.searchParams.set(key, value);
    expect((await fetch(spend)).status).toBe(200);

    expect((await click(id)).status).toBe(202);
    await backAfterCrret(id);
    await until(id, 'sent');
    expect(putsOf(id)).toEqual(['CRRET 204', 'CRSUC 204']);
    expect(tokenCalls()).toEqual([200, 400, 200]);
    expect(relay!.store.events.after(0, 10_000).some((e) => e.type === 'reply.updated' && /used/.test(e.data.reply.lastError ?? ''))).toBe(true);
    heldTokens(id);
  });

  it('Concur answers the exchange 503 three times: retried, then connected, with no CRRET', async () => {
    const { sb, ids } = await start(v, credentials);
    const [id] = ids as [string];
    sb.faults.add({ route: 'token', kind: 'status503', times: 3 });
    expect((await click(id)).status).toBe(202);
    const after = await until(id, 'sent');
    expect(after.reply).toMatchObject({ status: 'CRSUC', attempts: 1 });
    expect(tokenCalls()).toEqual([503, 503, 503, 200]);
    expect(putsOf(id)).toEqual(['CRSUC 204']);
    const retries = relay!.store.events.after(0, 10_000).flatMap((e) => (e.type === 'reply.updated' && e.data.requestId === id ? [e.data.reply.lastError] : []));
    expect(retries.filter((said) => /503; next try at/.test(said ?? ''))).toHaveLength(3);
  });

  it('without partner client credentials: CRSUC is 422 exchange_unavailable and the summary says why; other codes go on', async () => {
    const { ids } = await start(v, () => ({}), { count: 2 });
    const [first, second] = ids as [string, string];
    const summary = Summary.parse(await (await api('/api/v1/summary')).json());
    expect(summary.exchange).toEqual({ state: 'unavailable', reason: expect.stringContaining('CONCUR_CLIENT_ID') });
    const refused = await click(first);
    expect(refused.status).toBe(422);
    expect(ErrorBody.parse(await refused.json()).error).toMatchObject({ code: 'exchange_unavailable', message: expect.stringContaining('CONCUR_CLIENT_ID') });
    expect((await click(second, 'CREU1')).status).toBe(202);
    await until(second, 'sent');
    expect(sandbox!.calls.list().filter((c) => c.route === 'put').map((c) => c.putStatus)).toEqual(['CREU1']);
    expect(tokenCalls()).toEqual([]);
  });

  it('refused client credentials: the reply fails with the reason, no CRRET is sent, the summary says the exchange is unavailable', async () => {
    const { sb, ids } = await start(v, (s) => ({ CONCUR_CLIENT_ID: s.clientId, CONCUR_CLIENT_SECRET: 'not-the-partner-secret' }), { count: 2 });
    const [first, second] = ids as [string, string];
    expect(Summary.parse(await (await api('/api/v1/summary')).json()).exchange.state).toBe('ok');
    expect((await click(first)).status).toBe(202);
    const failed = await until(first, 'failed');
    expect(failed).toMatchObject({ group: 'pending', connectionId: null, reply: { status: 'CRSUC', lastError: expect.stringMatching(/client credentials/) } });
    expect(sb.calls.list().filter((c) => c.route === 'put')).toEqual([]);
    expect(tokenCalls()).toEqual([401]);
    const summary = Summary.parse(await (await api('/api/v1/summary')).json());
    expect(summary.exchange).toEqual({ state: 'unavailable', reason: expect.stringMatching(/CONCUR_CLIENT_SECRET/) });
    expect(relay!.store.events.after(0, 10_000).some((e) => e.type === 'summary' && e.data.exchange.state === 'unavailable')).toBe(true);
    expect((await click(second)).status).toBe(422);
    expect(await everythingSaid()).not.toContain('not-the-partner-secret');
  });
});

describe('API 3.0 with CONCUR_EXCHANGE=password (a Concur whose requests carry a userId)', () => {
  it('the password grant (OAuth 2.0, API 3.2 requests with a userId) connects the same way', async () => {
    const { sb, ids } = await start(VERSIONS[0]!, (s) => ({ ...credentials(s), CONCUR_EXCHANGE: 'password' }), { quirks: { version: '3.2' } });
    const [id] = ids as [string];
    expect((await click(id)).status).toBe(202);
    await until(id, 'sent');
    const { connection, opened } = heldTokens(id);
    expect(connection).toMatchObject({ instanceUrl: sb.url, concurUserId: sb.state.get(id)!.userId });
    expect(opened).toMatchObject({ form: 'password', geolocation: sb.url });
    expect(sb.calls.list().filter((c) => c.route === 'token').map((c) => [c.grantType, c.status])).toEqual([['password', 200]]);
    const profile = await fetch(`${sb.url}/api/user/v1.0/User`, { headers: { authorization: `Bearer ${opened.accessToken}`, accept: 'application/json' } });
    expect(profile.status).toBe(200);
    const said = await everythingSaid();
    for (const secret of [opened.accessToken, opened.refreshToken]) expect(said).not.toContain(secret);
  });
});
