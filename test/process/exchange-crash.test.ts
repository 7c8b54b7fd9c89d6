import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type RunningSandbox } from '../../relay/sandbox/server.js';
import { concurEnv, eventually, readDb as read, startRelayProcess, tempDb, type RelayProcess } from '../helpers/relay-process.js';
import { VERSIONS, type VersionCase } from '../relay/helpers.js';

/**
 * Issue 14: the relay SIGKILLed between the exchange call and storing its answer. Concur has
 * exchanged the request token (it is spent, the traveller's tokens were issued) and the relay
 * never heard. After a restart the request must end connected by way of a CRRET (a new token),
 * and CRSUC must never reach Concur without the traveller's tokens stored.
 *
 * A small proxy stands between the relay and the sandbox (both in this process): it passes every
 * call on, and the first exchange's answer, once the sandbox has given it, is never passed back:
 * the relay is killed instead. In API 3.0 (the legacy exchange) and 3.2 (the password grant; its
 * CRRET pops the request for an hour of the sandbox's clock, which the test moves on).
 */

const API_KEY = 'process-exchange-crash-key-0123';
let sandbox: RunningSandbox;
let proxy: { url: string; server: Server };
let onExchangeAnswered: (() => Promise<boolean>) | undefined;
const relays: RelayProcess[] = [];

/** An exchange of a request token: the legacy GET, or the token endpoint's password grant. */
function isExchange(req: IncomingMessage, body: Buffer): boolean {
  const path = req.url?.toLowerCase() ?? '';
  if (path.startsWith('/net2/oauth2/getaccesstoken.ashx')) return true;
  return path.startsWith('/oauth2/v0/token') && new URLSearchParams(body.toString('utf8')).get('grant_type') === 'password';
}

/** Passes a call to the sandbox as it came (its Host too, so the sandbox names the proxy as the instance). */
function forward(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const target = new URL(sandbox.url);
  const out = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
    const chunks: Buffer[] = [];
    answer.on('data', (chunk: Buffer) => chunks.push(chunk));
    answer.on('end', () => {
      const exchanged = isExchange(req, body) && answer.statusCode === 200;
      void (async () => {
        // Concur has answered (the token is spent); the relay dies before it hears.
        if (exchanged && onExchangeAnswered !== undefined && (await onExchangeAnswered())) {
          res.destroy();
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.end(Buffer.concat(chunks));
      })();
    });
  });
  out.on('error', () => res.destroy());
  out.end(body);
}

async function startConcur(v: VersionCase): Promise<void> {
  sandbox = await startSandbox({ seed: false, random: 37, ...v.sandbox });
  const server = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (chunk: Buffer) => body.push(chunk));
    req.on('end', () => forward(req, res, Buffer.concat(body)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
afterEach(async () => {
  onExchangeAnswered = undefined;
  sandbox.hooks.onReplyApplied = undefined;
  await Promise.all(relays.splice(0).map((r) => r.stop('SIGKILL')));
  proxy.server.closeAllConnections();
  await new Promise<void>((resolve) => proxy.server.close(() => resolve()));
  await sandbox.close();
});

/** A relay process on `db`, with the sandbox as Concur in `v`'s version. */
async function start(db: string, v: VersionCase): Promise<RelayProcess> {
  const relay = await startRelayProcess({
    ...concurEnv(sandbox, v.version, proxy.url),
    RELAY_API_KEYS: API_KEY,
    RELAY_DB: db,
    POLL_INTERVAL_SECONDS: '1',
  });
  relays.push(relay);
  return relay;
}

describe.each(VERSIONS)('SIGKILL between the exchange and storing its answer, API $version', (v) => {
  beforeEach(() => startConcur(v));

  it('after a restart the request ends connected by way of CRRET, and no CRSUC ever reaches Concur without stored tokens', async () => {
    const { id } = sandbox.state.add();
    const db = tempDb();
    const first = await start(db, v);
    await eventually(() => read<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM requests')[0]?.n === 1);

    onExchangeAnswered = async () => {
      onExchangeAnswered = undefined;
      first.proc.kill('SIGKILL');
      await first.exited;
      return true;
    };
    // Every CRSUC Concur applies: were the traveller's tokens stored (sealed) before it?
    const tokensStoredAtCrsuc: boolean[] = [];
    sandbox.hooks.onReplyApplied = (applied) => {
      // A CRRET's new token comes at once (3.0), or when 3.2's queue gives the request back.
      if (applied.status === 'CRRET') sandbox.clock.advance(v.crretAwayMs);
      if (applied.status !== 'CRSUC') return;
      const rows = read<{ access_token: string | null }>(db, 'SELECT access_token FROM connections WHERE request_id = ?', applied.requestId);
      tokensStoredAtCrsuc.push(rows.length === 1 && rows[0]!.access_token !== null);
    };

    const clicked = await fetch(`${first.url}/api/v1/requests/${id}/reply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'CRSUC' }),
    });
    expect(clicked.status).toBe(202);
    expect(await first.exited).toBeNull();

    // Concur exchanged the token; the relay kept only that it was exchanging.
    expect(sandbox.state.get(id)).toMatchObject({ status: 'Processing', successfulPuts: 0 });
    expect(read(db, 'SELECT status, state FROM replies')).toEqual([{ status: 'CRSUC', state: 'exchanging' }]);
    expect(read(db, 'SELECT id FROM connections')).toEqual([]);

    const second = await start(db, v);
    await eventually(() => read<{ state: string }>(db, 'SELECT state FROM replies')[0]?.state === 'sent', 20_000);
    const puts = sandbox.calls.list().filter((c) => c.route === 'put').map((c) => `${c.putStatus} ${c.status}`);
    expect(puts).toEqual(['CRRET 204', 'CRSUC 204']);
    expect(sandbox.state.get(id)).toMatchObject({ status: 'Connected', retries: 1, successfulPuts: 2 });
    expect(tokensStoredAtCrsuc).toEqual([true]);
    expect(read(db, 'SELECT status, requested_status, state FROM replies')).toEqual([{ status: 'CRSUC', requested_status: 'CRSUC', state: 'sent' }]);
    // The lost exchange's grant and the one the relay keeps.
    expect(sandbox.users.all().filter((g) => g.traveller.requestId === id)).toHaveLength(2);

    const steps = read<{ data: string }>(db, "SELECT data FROM events WHERE type = 'reply.updated' ORDER BY id").map((row) => {
      const { reply } = JSON.parse(row.data) as { reply: { status: string; state: string } };
      return `${reply.status} ${reply.state}`;
    });
    expect(steps).toEqual(['CRSUC queued', 'CRSUC exchanging', 'CRRET queued', 'CRRET waiting_token', 'CRSUC exchanging', 'CRSUC queued', 'CRSUC sent']);

    expect(await second.stop('SIGTERM')).toBe(0);
    const logs = relays.flatMap((r) => r.output).join('\n');
    for (const secret of [sandbox.accessToken, sandbox.clientSecret, API_KEY, ...sandbox.state.all().map((r) => r.requestToken)]) {
      expect(logs).not.toContain(secret);
    }
  }, 60_000);
});
