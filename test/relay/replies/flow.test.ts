import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectionRequest, ErrorBody, ReplyResponse } from '../../../shared/models.js';
import { parseConfig } from '../../../relay/base/config.js';
import { createLogger } from '../../../relay/base/log.js';
import { startRelay, type RunningRelay } from '../../../relay/boot/runtime.js';
import { startSandbox, type RunningSandbox } from '../../../relay/sandbox/server.js';
import { eventually, tempDb } from '../../helpers/relay-process.js';
import { TEST_VAULT_KEY } from '../../helpers/vault.js';
import { VERSIONS } from './versions.js';

/**
 * Replies through the whole relay: the API accepts, the outbox sends to the sandbox over real
 * HTTP, the store records what Concur answered; in API 3.0 (XML, the static token) and 3.2 (JSON,
 * the client-credentials grant, the queue).
 */

const API_KEY = 'replies-test-key-0123456789';
let sandbox: RunningSandbox;
let relay: RunningRelay;
const logs: string[] = [];

function api(path: string, init: RequestInit = {}) {
  return fetch(`${relay.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...init.headers },
  });
}

const reply = (id: string, status: string, headers: Record<string, string> = {}) =>
  api(`/api/v1/requests/${encodeURIComponent(id)}/reply`, { method: 'POST', body: JSON.stringify({ status }), headers });

async function request(id: string) {
  return ConnectionRequest.parse(await (await api(`/api/v1/requests/${encodeURIComponent(id)}`)).json());
}

const putsFor = (id: string) => sandbox.calls.list().filter((c) => c.route === 'put' && c.path.endsWith(`/${id}`));
const firstId = () => sandbox.state.all()[0]!.id;

describe.each(VERSIONS)('status replies through the relay, API $version', (v) => {
  beforeEach(async () => {
    sandbox = await startSandbox({ seed: false, random: 11, ids: v.ids, quirks: v.quirks });
    for (let i = 0; i < 3; i++) sandbox.state.add();
    const parsed = parseConfig({
      ...v.env,
      ...v.credential(sandbox),
      CONCUR_BASE_URL: sandbox.url,
      // The partner's credentials: a CRSUC exchanges the request token first (exchange-flow.test.ts).
      CONCUR_CLIENT_ID: sandbox.clientId,
      CONCUR_CLIENT_SECRET: sandbox.clientSecret,
      RELAY_API_KEYS: API_KEY,
      RELAY_VAULT_KEY: TEST_VAULT_KEY,
      RELAY_DB: tempDb(),
      RELAY_PORT: '0',
      POLL_INTERVAL_SECONDS: '1',
    });
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const destination = new Writable({ write: (chunk, _enc, done) => (logs.push(String(chunk)), done()) });
    relay = await startRelay(parsed.config, { logger: createLogger({ destination, level: 'debug' }), outboxBaseDelayMs: 20 });
    await eventually(() => relay.store.requests.counts().pending === 3);
  });
  afterEach(async () => {
    await relay.close();
    await sandbox.close();
    logs.length = 0;
  });

  it('sends a reply and moves the request to its new group', async () => {
    const id = firstId();
    const res = await reply(id, 'CRSUC');
    expect(res.status).toBe(202);
    expect(ReplyResponse.parse(await res.json()).reply).toMatchObject({ status: 'CRSUC', state: 'queued' });
    const after = await eventually(async () => {
      const r = await request(id);
      return r.reply?.state === 'sent' && r;
    });
    expect(after.group).toBe('connected');
    expect(putsFor(id).map((c) => [c.putStatus, c.status])).toEqual([['CRSUC', 204]]);
    expect(relay.store.requests.counts()).toMatchObject({ pending: 2, connected: 1 });
  });

  it('retries through 503s, counting the attempts, until Concur takes it', async () => {
    const id = firstId();
    sandbox.faults.add({ route: 'put', kind: 'status503', times: 3 });
    expect((await reply(id, 'CREU2')).status).toBe(202);
    const after = await eventually(async () => {
      const r = await request(id);
      return r.reply?.state === 'sent' && r;
    });
    expect(after.reply!.attempts).toBe(4);
    expect(after.group).toBe('failed');
    expect(putsFor(id).map((c) => c.status)).toEqual([503, 503, 503, 204]);
  });

  it("marks a reply failed with Concur's own message when Concur does not know the request", async () => {
    const ghost = { id: 'GhostRequestNotInConcur00001' };
    const known = await request(firstId());
    relay.store.requests.upsertFromConcur(
      [
        {
          id: ghost.id,
          uri: null,
          firstName: known.firstName,
          middleName: null,
          lastName: known.lastName,
          loyaltyNumber: '00112233',
          discountCode: null,
          status: 'Pending',
          requestToken: 'ghost-token',
          message: null,
          lastModified: known.lastModified,
          // Under 3.2 a CRSUC's password grant needs one; Concur does not know it either way.
          userId: 'ghost-user',
          emailAddresses: [],
        },
      ],
      new Date().toISOString(),
    );
    expect((await reply(ghost.id, 'CRSUC')).status).toBe(202);
    const after = await eventually(async () => {
      const r = await request(ghost.id);
      return r.reply?.state === 'failed' && r;
    });
    expect(after.reply!.lastError).toMatch(/404/);
    expect(after.reply!.lastError!.length).toBeGreaterThan('Concur answered 404'.length);
    expect(putsFor(ghost.id)).toHaveLength(1);
  });

  it('makes a repeat with the same Idempotency-Key free: one PUT', async () => {
    const id = firstId();
    const headers = { 'idempotency-key': 'click-6f1c' };
    const a = ReplyResponse.parse(await (await reply(id, 'CRSUC', headers)).json());
    const b = await reply(id, 'CRSUC', headers);
    expect(b.status).toBe(202);
    expect(ReplyResponse.parse(await b.json()).reply.status).toBe(a.reply.status);
    await eventually(async () => (await request(id)).reply?.state === 'sent');
    const c = await reply(id, 'CRSUC', headers);
    expect(ReplyResponse.parse(await c.json()).reply.state).toBe('sent');
    expect(putsFor(id)).toHaveLength(1);
  });

  it('answers 409 while another reply for the request is on its way, and sends nothing more', async () => {
    const id = firstId();
    sandbox.faults.add({ route: 'put', kind: 'status503' });
    expect((await reply(id, 'CRSUC')).status).toBe(202);
    const second = await reply(id, 'CREU1');
    expect(second.status).toBe(409);
    expect(ErrorBody.parse(await second.json()).error.code).toBe('reply_in_flight');
    await eventually(() => putsFor(id).length >= 2);
    expect(putsFor(id).every((c) => c.putStatus === null || c.putStatus === 'CRSUC')).toBe(true);
  });

  it(`refuses CRRET number ${v.crretLimit + 1} with 409 once the request has used its ${v.crretLimit} retries`, async () => {
    const id = firstId();
    for (let n = 1; n <= v.crretLimit; n++) {
      expect((await reply(id, 'CRRET')).status).toBe(202);
      await eventually(async () => {
        const r = await request(id);
        return r.reply?.state === 'sent' && r.retries === n;
      });
      // Back in Concur's queue (3.2 pops it for an hour), so the next CRRET is one Concur takes.
      sandbox.clock.advance(v.crretAwayMs);
    }
    const over = await reply(id, 'CRRET');
    expect(over.status).toBe(409);
    const body = ErrorBody.parse(await over.json());
    expect(body.error.code).toBe('retry_limit');
    expect(body.error.message).toContain(`all ${v.crretLimit} retries`);
    expect(putsFor(id).filter((c) => c.putStatus === 'CRRET' && c.status === 204)).toHaveLength(v.crretLimit);
    // Refused here, so never sent: the one more that would have failed the request at Concur.
    expect(sandbox.state.get(id)!.retries).toBe(v.crretLimit);
    expect(sandbox.state.get(id)!.status).not.toBe('Failed');
  });

  it('turns bad input into clear 4xx answers and sends nothing to Concur', async () => {
    const id = firstId();
    const cases: Array<[Promise<Response>, number]> = [
      [api(`/api/v1/requests/${id}/reply`, { method: 'POST', body: '{"status":' }), 400],
      [reply(id, 'CONNECTED'), 400],
      [reply(id, 'Pending'), 400],
      [api(`/api/v1/requests/${id}/reply`, { method: 'POST', body: JSON.stringify({ status: 'CRSUC', pad: 'x'.repeat(70 * 1024) }) }), 413],
      [reply('NoSuchRequest', 'CRSUC'), 404],
      [api('/api/v1/requests?cursor=not-a-cursor'), 400],
      [fetch(`${relay.url}/api/v1/requests/${id}/reply`, { method: 'POST', body: '{"status":"CRSUC"}' }), 401],
    ];
    for (const [pending, status] of cases) {
      const res = await pending;
      expect(res.status).toBe(status);
      const body = ErrorBody.parse(await res.json());
      expect(body.error.message.length).toBeGreaterThan(10);
      expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/);
    }
    const unknownCode = ErrorBody.parse(await (await reply(id, 'CONNECTED')).json());
    expect(unknownCode.error.message).toContain('CRSUC');
    expect(unknownCode.error.message).toContain('CRRET');
    expect(sandbox.calls.list().filter((c) => c.route === 'put')).toHaveLength(0);
    expect(relay.store.replies.pendingCount()).toBe(0);
  });
});
