import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseConfig } from '../../relay/base/config.js';
import { createLogger } from '../../relay/base/log.js';
import { Metrics } from '../../relay/base/metrics.js';
import { startRelay, type RunningRelay } from '../../relay/boot/runtime.js';
import { staticToken } from '../../relay/concur/auth.js';
import { ConcurClient } from '../../relay/concur/client.js';
import { ExchangeClient } from '../../relay/concur/exchange.js';
import { createPoller } from '../../relay/ingest/poller.js';
import { createMatchWorker } from '../../relay/match/worker.js';
import { createOutbox } from '../../relay/replies/outbox.js';
import { openStore, type Store } from '../../relay/store/index.js';
import { TEST_VAULT } from '../helpers/vault.js';
import { type BenchResult, fmt, forkChild, freePort, interleaved, log, median, oneCoreEach, result, sleep, spread, tempDir, until } from './lib.js';

/**
 * Auto-connect, timed.
 *
 * `autoconnect.new_to_crsuc`: from a request appearing at the sandbox to its CRSUC applied there,
 * with nobody clicking, as a multiple of the poll interval. The relay runs as `npm start` runs it
 * (startRelay, sandbox mode, polling every POLL_SECONDS, the demo trickle off) but asks a member
 * directory on loopback that knows every traveller (RELAY_MATCH_URL): the path is the product's
 * own — the next poll, the request.created that queues the question, the signed call, the answer
 * and its CRSUC stored together, the outbox woken, the exchange, the tokens sealed, the PUT. As in
 * notice.ts, each round adds its request at a different moment of the poll cycle ((k + ½)/ROUNDS
 * of an interval after the last CRSUC, shuffled), so the median is the typical wait and the max
 * close to the worst. Goal: median ≤ 0.6 interval, max ≤ 1 interval + 1 s.
 *
 * `autoconnect.burst_1000`: 1,000 new requests in one poll, all connected by themselves: the
 * sandbox in its own process (sandbox-child.ts) holds them and a member directory beside it; here,
 * the relay's poller, match worker and outbox on a fresh SQLite file, wired as runtime.ts wires
 * them. Timed from the poll's start to the last CRSUC recorded. Baseline, interleaved in the same
 * run: the same 1,000 connected through the outbox alone from CRSUCs queued beforehand, as
 * exchange.connect_1000 measures it but with the relay's own outbox settings (4 at once, batches
 * of 20; exchange.connect_1000 takes batches of 100): what asking the directory adds.
 */

const POLL_SECONDS = 2;
const INTERVAL_MS = POLL_SECONDS * 1000;
const ROUNDS = 7;
const WARMUP = 1;
const BURST = 1000;
const BURST_ROUNDS = { warmup: 1, rounds: 3 };
const SECRET = `whsec_${Buffer.from('bench member directory secret, 32 bytes').toString('base64')}`;
const quiet = createLogger({ level: 'info', destination: { write: () => undefined } });

export async function run(): Promise<BenchResult[]> {
  return [...(await newToCrsuc()), ...(await burst())];
}

/** A member directory that knows everybody: 200 `member`, nothing checked (the relay's cost is what is measured). */
async function memberDirectory(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => {
      const id = (JSON.parse(body) as { data: { requestId: string } }).data.requestId;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: 'member', memberId: `M-${id}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/match`, server };
}

async function newToCrsuc(): Promise<BenchResult[]> {
  const tmp = tempDir('autoconnect');
  const directory = await memberDirectory();
  let relay: RunningRelay | undefined;
  try {
    const parsed = parseConfig({
      RELAY_DB: join(tmp.dir, 'relay.sqlite'),
      RELAY_PORT: String(await freePort()),
      POLL_INTERVAL_SECONDS: String(POLL_SECONDS),
      RELAY_MATCH_URL: directory.url,
      RELAY_MATCH_SECRET: SECRET,
      RELAY_WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    relay = await startRelay(parsed.config, { logger: quiet, sandboxDemoEveryMs: 0 });
    const r = relay;
    const sandbox = r.sandbox!;
    // The seeded requests first: every one connected, so each round's is the only one on its way.
    await until(() => sandbox.state.all().every((q) => r.store.requests.get(q.id)?.reply?.state === 'sent'), 30_000, 'the seeded requests were not connected');
    const appliedAt = new Map<string, number>();
    sandbox.hooks.onReplyApplied = (applied) => {
      if (applied.status === 'CRSUC') appliedAt.set(applied.requestId, Date.now());
    };

    const order = Array.from({ length: ROUNDS }, (_, k) => (k * 3) % ROUNDS);
    const total: number[] = [];
    for (let round = -WARMUP; round < ROUNDS; round++) {
      const phase = round < 0 ? 0.5 : (order[round]! + 0.5) / ROUNDS;
      await sleep(phase * INTERVAL_MS);
      const addedAt = Date.now();
      const { id } = sandbox.state.add();
      await until(() => appliedAt.has(id), 30_000, `round ${round + 1}: no CRSUC for ${id}`);
      const ms = appliedAt.get(id)! - addedAt;
      if (round >= 0) total.push(ms);
      log(`autoconnect ${round < 0 ? 'warm-up' : `round ${round + 1}/${ROUNDS}`} (added at ${(phase * 100).toFixed(0)}% of a cycle): CRSUC after ${fmt(ms)} ms`);
    }
    const med = median(total);
    const max = Math.max(...total);
    log(`autoconnect.new_to_crsuc: median ${fmt(med)} ms ${spread(total)}, max ${fmt(max)} ms, poll interval ${INTERVAL_MS} ms`);
    const interval = { name: 'poll interval', value: INTERVAL_MS, unit: 'ms' };
    return [
      result('autoconnect.new_to_crsuc.median', med, 'ms', '≤ 0.6 × interval', med <= 0.6 * INTERVAL_MS, interval),
      result('autoconnect.new_to_crsuc.max', max, 'ms', '≤ 1 interval + 1 s', max <= INTERVAL_MS + 1000, interval),
    ];
  } finally {
    await relay?.close();
    directory.server.closeAllConnections();
    directory.server.close();
    tmp.cleanup();
  }
}

interface SandboxReady {
  url: string;
  accessToken: string;
  clientId: string;
  clientSecret: string;
}

async function burst(): Promise<BenchResult[]> {
  const { child: sandbox, ready } = await forkChild<SandboxReady>('sandbox-child.ts', { args: ['0'] });
  const unpin = oneCoreEach(process.pid, sandbox.proc.pid!);
  log(unpin ? 'autoconnect: this process on core 0, the sandbox and the directory on core 1' : 'autoconnect: cores not pinned');
  const tmp = tempDir('autoconnect-burst');
  const { url: directoryUrl } = await sandbox.call<{ url: string }>({ cmd: 'members' });
  const fresh = async () => new Set((await sandbox.call<{ requests: Array<{ id: string }> }>({ cmd: 'fresh', count: BURST })).requests.map((q) => q.id));
  const client = new ConcurClient({ baseUrl: ready.url, auth: staticToken(ready.accessToken) });
  const exchange = { client: new ExchangeClient({ form: 'legacy', baseUrl: ready.url, tokenUrl: `${ready.url}/oauth2/v0/token`, clientId: ready.clientId, clientSecret: ready.clientSecret }), form: 'legacy' as const };
  const stores: Store[] = [];
  let roundNo = 0;
  const newStore = (askDirectory: boolean) => {
    const store = openStore(join(tmp.dir, `burst-${++roundNo}.sqlite`), { vault: TEST_VAULT, askDirectory });
    stores.push(store);
    return store;
  };
  const allSent = (store: Store, ids: Set<string>) => [...ids].every((id) => store.requests.get(id)?.reply?.state === 'sent' && store.connections.byRequest(id) !== undefined);
  /** The requests whose reply is sent, as the events announce them (cheaper to follow than to read back). */
  const followSent = (store: Store) => {
    const sent = new Set<string>();
    const queued = new Set<string>();
    let lastQueuedAt = 0;
    store.events.subscribe((event) => {
      if (event.type !== 'reply.updated') return;
      if (event.data.reply.state === 'sent') sent.add(event.data.requestId);
      else if (event.data.reply.state === 'queued' && !queued.has(event.data.requestId)) {
        queued.add(event.data.requestId);
        lastQueuedAt = performance.now();
      }
    });
    return { sent, lastQueued: () => lastQueuedAt };
  };

  try {
    /** The whole relay path: poll, ask, queue, exchange, PUT, all at once as the relay runs them. */
    const auto = async (): Promise<number> => {
      const ids = await fresh();
      const store = newStore(true);
      const metrics = new Metrics();
      const poller = createPoller({ client, store, intervalMs: 3_600_000, logger: quiet, metrics });
      const outbox = createOutbox({ client, exchange, store, logger: quiet, metrics });
      const directory = { url: directoryUrl, secret: SECRET, timeoutMs: 5_000, allowPrivate: true };
      const matcher = createMatchWorker({ store, directory, autoReply: 'connect', logger: quiet, metrics, onReplied: () => outbox.kick() });
      const { sent, lastQueued } = followSent(store);
      outbox.start();
      matcher.start();
      const started = performance.now();
      if ((await poller.sweepNow()).outcome !== 'ok') throw new Error('the poll failed');
      await until(() => sent.size >= BURST, 300_000, `${sent.size} of ${BURST} connected`);
      const seconds = (performance.now() - started) / 1000;
      log(`autoconnect.burst: the directory's last answer (its CRSUC queued) after ${fmt(lastQueued() - started)} ms, the last CRSUC after ${fmt(seconds * 1000)} ms`);
      await matcher.stop();
      await outbox.stop();
      if (!allSent(store, ids)) throw new Error('a reply was sent without its connection');
      return BURST / seconds;
    };
    /** Baseline: the same connections from CRSUCs queued after the poll (not timed), the outbox alone. */
    const exchangeOnly = async (): Promise<number> => {
      const ids = await fresh();
      const store = newStore(false);
      const metrics = new Metrics();
      const poller = createPoller({ client, store, intervalMs: 3_600_000, logger: quiet, metrics });
      if ((await poller.sweepNow()).outcome !== 'ok') throw new Error('the poll failed');
      for (const id of ids) store.replies.enqueue(id, 'CRSUC', { actor: { keyId: null, name: 'bench' } });
      const outbox = createOutbox({ client, exchange, store, logger: quiet, metrics });
      const started = performance.now();
      await outbox.drain();
      const seconds = (performance.now() - started) / 1000;
      await outbox.stop();
      if (!allSent(store, ids)) throw new Error('the outbox left requests unconnected');
      return BURST / seconds;
    };
    const rounds = await interleaved('autoconnect.burst', { auto, exchangeOnly }, BURST_ROUNDS);
    const autoCps = median(rounds.auto);
    const bareCps = median(rounds.exchangeOnly);
    log(`autoconnect.burst_1000: ${fmt(autoCps)} ${spread(rounds.auto)} connections/s with the directory, ${fmt(bareCps)} ${spread(rounds.exchangeOnly)} from queued CRSUCs`);
    return [
      result('autoconnect.burst_1000', BURST / autoCps, 's', 'reported (poll → 1,000 asked, exchanged, CRSUC)', true, {
        name: "outbox alone from queued CRSUCs (the relay's defaults)",
        value: BURST / bareCps,
        unit: 's',
      }),
      result('autoconnect.burst_1000.rate', autoCps, 'connections/s', 'reported (exchange.connect_1000 measured the same way, relay defaults)', true, {
        name: "outbox alone from queued CRSUCs (the relay's defaults)",
        value: bareCps,
        unit: 'connections/s',
      }),
    ];
  } finally {
    for (const store of stores) store.close();
    unpin?.();
    await sandbox.stop();
    tmp.cleanup();
  }
}
