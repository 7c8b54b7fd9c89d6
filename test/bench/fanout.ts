import { type Socket, connect } from 'node:net';
import { type BenchResult, type Child, forkChild, log, median, percentile, result, sleep, spread, tempDir } from './lib.js';
import { BENCH_API_KEY } from './records.js';

/**
 * 3. Live events fan-out. A server process (sse-server.ts: the relay's app, or a bare node:http
 * SSE broadcaster as the baseline) gets 1,000 clients on GET /api/v1/events. Then, round after
 * round, a new connection request is stored (upsertFromConcur, as the poller does) and the time
 * from the store returning to the event reaching each client is taken on CLOCK_MONOTONIC, which
 * both processes share. Per round: p50 and p99 over the 1,000 clients; reported: the median over
 * rounds. Memory per client: the server's RSS (and heap) after a full GC with 1,000 clients,
 * minus the same before any connected, / 1,000.
 *
 * The clients are raw TCP sockets writing the request by hand and scanning the bytes for the
 * event's id: a few hundred bytes of state each, so that the load generator (this process) stays
 * light and its delay shows as little as possible in the latencies. Each server kind runs in
 * `PROCESSES` fresh processes, alternating, so memory too gets a median.
 */

const CLIENTS = 1000;
const PROCESSES = 3;
const WARMUP_EVENTS = 2;
const EVENTS = 5;
const CONNECT_BATCH = 100;

interface Client {
  socket: Socket;
  /** The end of the previous chunk, in case an id is split between two. */
  tail: string;
  connected: boolean;
  /** hrtime when the current round's event arrived; 0n until then. */
  got: bigint;
}

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  clients: number;
}

interface Sample {
  p50: number[];
  p99: number[];
  max: number[];
  rssPerClient: number;
  heapPerClient: number;
}

export async function run(): Promise<BenchResult[]> {
  const samples: Record<'relay' | 'bare', Sample[]> = { relay: [], bare: [] };
  for (let i = 0; i < PROCESSES; i++) {
    for (const mode of ['relay', 'bare'] as const) {
      const sample = await oneProcess(mode, i);
      samples[mode].push(sample);
      log(
        `fanout ${mode} process ${i + 1}/${PROCESSES}: p50 ${sample.p50.map((v) => v.toFixed(1)).join(' ')} ms; ` +
          `p99 ${sample.p99.map((v) => v.toFixed(1)).join(' ')} ms; ` +
          `${(sample.rssPerClient / 1024).toFixed(1)} KB RSS, ${(sample.heapPerClient / 1024).toFixed(1)} KB heap per client`,
      );
    }
  }
  const summary = (mode: 'relay' | 'bare') => {
    const all = samples[mode];
    const p50 = all.flatMap((s) => s.p50);
    const p99 = all.flatMap((s) => s.p99);
    const rss = all.map((s) => s.rssPerClient / 1024);
    const heap = all.map((s) => s.heapPerClient / 1024);
    log(`fanout ${mode} medians: p50 ${median(p50).toFixed(1)} ms ${spread(p50)}, p99 ${median(p99).toFixed(1)} ms ${spread(p99)}, ${median(rss).toFixed(1)} KB RSS ${spread(rss)}, ${median(heap).toFixed(1)} KB heap per client`);
    return { p50: median(p50), p99: median(p99), rss: median(rss), heap: median(heap) };
  };
  const relay = summary('relay');
  const bare = summary('bare');
  return [
    result('fanout.latency_p50', relay.p50, 'ms', 'reported', true, { name: 'bare node:http SSE', value: bare.p50, unit: 'ms' }),
    result('fanout.latency_p99', relay.p99, 'ms', '< 200 ms', relay.p99 < 200, { name: 'bare node:http SSE', value: bare.p99, unit: 'ms' }),
    result('fanout.memory_per_client', relay.rss, 'KB', '< 50 KB', relay.rss < 50, { name: 'bare node:http SSE', value: bare.rss, unit: 'KB' }),
    // The JS heap (+ external) alone, after a full GC: the part the code controls; RSS also holds sockets and allocator slack.
    result('fanout.memory_per_client.heap', relay.heap, 'KB', 'reported (RSS is the goal)', true, {
      name: 'bare node:http SSE',
      value: bare.heap,
      unit: 'KB',
    }),
  ];
}

async function oneProcess(mode: 'relay' | 'bare', index: number): Promise<Sample> {
  const tmp = tempDir('fanout');
  const { child, ready } = await forkChild<{ url: string }>('sse-server.ts', {
    args: [mode, `${tmp.dir}/relay.sqlite`],
    execArgv: ['--expose-gc'],
  });
  const clients: Client[] = [];
  try {
    const { hostname, port } = new URL(ready.url);
    await sleep(200);
    const before = await child.call<Memory>({ cmd: 'mem' });
    for (let i = 0; i < CLIENTS; i += CONNECT_BATCH) {
      const batch = Array.from({ length: Math.min(CONNECT_BATCH, CLIENTS - i) }, () => open(hostname, Number(port)));
      clients.push(...batch);
      await until(() => batch.every((c) => c.connected), 10_000, `${mode}: clients ${i}…${i + batch.length} to connect`);
    }
    await until(async () => (await child.call<{ clients: number }>({ cmd: 'clients' })).clients === CLIENTS, 10_000, `${mode}: the server to count ${CLIENTS} clients`);
    await sleep(200);
    const after = await child.call<Memory>({ cmd: 'mem' });

    const sample: Sample = {
      p50: [],
      p99: [],
      max: [],
      rssPerClient: (after.rss - before.rss) / CLIENTS,
      heapPerClient: (after.heapUsed + after.external - before.heapUsed - before.external) / CLIENTS,
    };
    for (let round = -WARMUP_EVENTS; round < EVENTS; round++) {
      const latencies = await oneEvent(child, clients, `fanout-${mode}-${index}-${round + WARMUP_EVENTS}-${Date.now().toString(36)}`);
      if (round < 0) continue;
      sample.p50.push(percentile(latencies, 50));
      sample.p99.push(percentile(latencies, 99));
      sample.max.push(Math.max(...latencies));
      await sleep(100);
    }
    return sample;
  } finally {
    for (const client of clients) client.socket.destroy();
    await child.stop();
    tmp.cleanup();
  }
}

/** One event to every client: the latency to each, in ms. */
async function oneEvent(child: Child, clients: Client[], eventId: string): Promise<number[]> {
  marker = eventId;
  for (const client of clients) {
    client.got = 0n;
    client.tail = '';
  }
  const { storedAt } = await child.call<{ storedAt: string }>({ cmd: 'publish', eventId });
  await until(() => clients.every((c) => c.got !== 0n), 15_000, `event ${eventId} to reach every client`, 1);
  const stored = BigInt(storedAt);
  return clients.map((c) => Number(c.got - stored) / 1e6);
}

/** The id of the event every client is waiting for. */
let marker = '';

function open(host: string, port: number): Client {
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  const client: Client = { socket, tail: '', connected: false, got: 0n };
  socket.on('connect', () => {
    socket.write(
      `GET /api/v1/events HTTP/1.1\r\nHost: ${host}:${port}\r\nAuthorization: Bearer ${BENCH_API_KEY}\r\n` +
        `Accept: text/event-stream\r\nConnection: keep-alive\r\n\r\n`,
    );
  });
  socket.on('data', (chunk: Buffer) => {
    const now = process.hrtime.bigint();
    const text = client.tail + chunk.toString('latin1');
    if (!client.connected && text.includes('retry:')) client.connected = true;
    if (client.got === 0n && marker !== '' && text.includes(marker)) client.got = now;
    client.tail = text.slice(-Math.max(marker.length, 8));
  });
  socket.on('error', () => undefined);
  return client;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
