import { createCipheriv, randomBytes } from 'node:crypto';
import { staticToken } from '../../relay/concur/auth.js';
import { ConcurClient } from '../../relay/concur/client.js';
import { ExchangeClient } from '../../relay/concur/exchange.js';
import { createLogger } from '../../relay/base/log.js';
import { Metrics } from '../../relay/base/metrics.js';
import { createPoller } from '../../relay/ingest/poller.js';
import { createOutbox } from '../../relay/replies/outbox.js';
import { openStore, type Store } from '../../relay/store/index.js';
import { TEST_VAULT } from '../helpers/vault.js';
import { type BenchResult, forkChild, interleaved, log, median, oneCoreEach, result, spread, tempDir } from './lib.js';

/**
 * `exchange.connect_1000`: what "Connected" costs now that it means the traveller's tokens are
 * stored. The sandbox (its own process, on a core of its own where `taskset` allows) holds 1,000
 * new pending requests per round; in this process, on the other core:
 *
 * - relay: the outbox, as the relay runs it (4 at a time), connects them all: for each, the reply
 *   is marked exchanging, the request token exchanged (legacy getaccesstoken.ashx over loopback
 *   HTTP), the tokens sealed by the vault and stored with the reply's change, then CRSUC PUT and
 *   recorded. The replies are queued and the requests polled into a fresh SQLite file beforehand
 *   (not timed). Wall clock → connections per second; the process's CPU time → per connection.
 * - bare calls: the same two calls per request (the exchange, the PUT of CRSUC), 4 at a time,
 *   with fetch and nothing else: what any partner's client pays the sandbox and loopback HTTP.
 * - AES-GCM: node:crypto sealing the same bytes the relay seals per connection (its access and
 *   refresh token, each with a fresh nonce and its place as associated data), nothing else: the
 *   floor under the relay's CPU time per connection.
 */

const REQUESTS = 1000;
const CONCURRENCY = 4;
const ROUNDS = { warmup: 1, rounds: 3 };

interface SandboxReady {
  url: string;
  accessToken: string;
  clientId: string;
  clientSecret: string;
}

export async function run(): Promise<BenchResult[]> {
  const { child: sandbox, ready } = await forkChild<SandboxReady>('sandbox-child.ts', { args: ['0'] });
  const tmp = tempDir('exchange');
  const unpin = oneCoreEach(process.pid, sandbox.proc.pid!);
  log(unpin ? 'exchange: this process on core 0, the sandbox on core 1' : 'exchange: cores not pinned (no taskset or one core)');
  const fresh = async () => (await sandbox.call<{ requests: Array<{ id: string; requestToken: string }> }>({ cmd: 'fresh', count: REQUESTS })).requests;
  const quiet = createLogger({ level: 'info', destination: { write: () => undefined } });
  const client = new ConcurClient({ baseUrl: ready.url, auth: staticToken(ready.accessToken) });
  const exchange = new ExchangeClient({ form: 'legacy', baseUrl: ready.url, tokenUrl: `${ready.url}/oauth2/v0/token`, clientId: ready.clientId, clientSecret: ready.clientSecret });
  let lastStore: Store | undefined;
  const cpuPerConnection: number[] = [];

  try {
    let roundNo = 0;
    const relay = async (): Promise<number> => {
      const ids = new Set((await fresh()).map((r) => r.id));
      lastStore?.close();
      const store = openStore(`${tmp.dir}/connect-${++roundNo}.sqlite`, { vault: TEST_VAULT });
      lastStore = store;
      const poller = createPoller({ client, store, intervalMs: 3_600_000, logger: quiet, metrics: new Metrics() });
      if ((await poller.sweepNow()).outcome !== 'ok') throw new Error('the poll failed');
      for (const id of ids) store.replies.enqueue(id, 'CRSUC', { actor: { keyId: null, name: 'bench' } });
      const outbox = createOutbox({ client, exchange: { client: exchange, form: 'legacy' }, store, logger: quiet, metrics: new Metrics(), concurrency: CONCURRENCY, batchSize: 100 });
      const cpu = process.cpuUsage();
      const started = performance.now();
      await outbox.drain();
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      await outbox.stop();
      const connected = [...ids].filter((id) => store.requests.get(id)?.reply?.state === 'sent' && store.connections.byRequest(id) !== undefined).length;
      if (connected !== REQUESTS) throw new Error(`connected ${connected} of ${REQUESTS}`);
      cpuPerConnection.push((used.user + used.system) / REQUESTS);
      return REQUESTS / seconds;
    };

    const bare = async (): Promise<number> => {
      const todo = await fresh();
      const started = performance.now();
      let next = 0;
      const worker = async () => {
        while (next < todo.length) {
          const { id, requestToken } = todo[next++]!;
          const url = new URL('/net2/oauth2/getaccesstoken.ashx', ready.url);
          for (const [key, value] of Object.entries({ code: requestToken, client_id: ready.clientId, client_secret: ready.clientSecret })) url.searchParams.set(key, value);
          const exchanged = await fetch(url, { headers: { accept: 'application/json' } });
          await exchanged.text();
          const put = await fetch(`${ready.url}/api/v3.0/common/connectionrequests/${id}`, {
            method: 'PUT',
            headers: { authorization: `OAuth ${ready.accessToken}`, 'content-type': 'application/xml' },
            body: '<ConnectionRequest><Status>CRSUC</Status></ConnectionRequest>',
          });
          await put.text();
          if (exchanged.status !== 200 || put.status !== 204) throw new Error(`bare calls answered ${exchanged.status} and ${put.status}`);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      return REQUESTS / ((performance.now() - started) / 1000);
    };

    const rounds = await interleaved('exchange', { relay, bare }, ROUNDS);
    const relayCps = median(rounds.relay);
    const bareCps = median(rounds.bare);
    const relayCpuUs = median(cpuPerConnection.slice(ROUNDS.warmup));

    // The same bytes the relay sealed: the tokens of the last round's connections.
    const held = lastStore!.connections.list({ limit: 200 }).items.map((c) => lastStore!.connections.tokens(c.id)!);
    const gcmUs = sealCost(held.map((t) => [t.accessToken, t.refreshToken] as const));
    log(
      `exchange medians: relay ${relayCps.toFixed(0)} ${spread(rounds.relay)} connections/s, bare ${bareCps.toFixed(0)} ${spread(rounds.bare)}, ` +
        `relay CPU ${relayCpuUs.toFixed(0)} µs per connection, AES-GCM ${gcmUs.toFixed(2)} µs`,
    );
    return [
      result('exchange.connect_1000', relayCps, 'connections/s', 'reported (exchange + store + CRSUC, 4 at a time)', true, {
        name: 'bare calls (exchange + PUT, fetch, 4 at a time)',
        value: bareCps,
        unit: 'connections/s',
      }),
      result('exchange.connect_1000.cpu', relayCpuUs, 'µs CPU/connection', 'reported (the relay process)', true, {
        name: 'node:crypto AES-256-GCM of the same two tokens',
        value: gcmUs,
        unit: 'µs',
      }),
    ];
  } finally {
    lastStore?.close();
    unpin?.();
    await sandbox.stop();
    tmp.cleanup();
  }
}

/** CPU µs to seal one connection's two tokens with AES-256-GCM (fresh nonce, associated data), median of 5 passes over `tokens`. */
function sealCost(tokens: ReadonlyArray<readonly [string, string]>): number {
  const key = randomBytes(32);
  const seal = (value: string, where: string) => {
    const cipher = createCipheriv('aes-256-gcm', key, randomBytes(12));
    cipher.setAAD(Buffer.from(where));
    return Buffer.concat([cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  };
  const passes: number[] = [];
  for (let pass = 0; pass < 6; pass++) {
    const cpu = process.cpuUsage();
    for (let repeat = 0; repeat < 20; repeat++) {
      tokens.forEach(([access, refresh], i) => {
        seal(access, `connections.access_token:con_${i}`);
        seal(refresh, `connections.refresh_token:con_${i}`);
      });
    }
    const used = process.cpuUsage(cpu);
    if (pass > 0) passes.push((used.user + used.system) / (tokens.length * 20));
  }
  return median(passes);
}
