import autocannon from 'autocannon';
import { type BenchResult, type Child, forkChild, interleaved, log, median, result, spread, tempDir } from './lib.js';
import { type BenchCluster, startBenchCluster } from './postgres.js';
import { BENCH_API_KEY, LIST_PATH } from './records.js';

/**
 * 2. API. GET /api/v1/requests?group=pending&limit=50 with a valid key, under concurrent load,
 * against a bare Hono route answering the same JSON bytes. The servers live in one child process
 * (api-server.ts) over stores of 1,000 pending requests; autocannon runs here, in the parent, so
 * the load generator has a core of its own. Each round loads the relay, the relay whose store
 * also holds 1,000 API keys (called with one of them), then the bare route, the same way (same
 * connections, duration, request bytes); medians of req/s and of p99 over rounds.
 *
 * PostgreSQL (`api.list_pending_50.postgres`): the same route over the same requests in a store on
 * PostgreSQL (a throwaway cluster started here, postgres.ts), in the same rounds, against the
 * relay on SQLite. The relay on SQLite reads its file in its own process; on PostgreSQL every
 * answer is a round trip to the server, whose backends share this machine's two cores with the
 * relay and the load generator: the ratio says what that costs here, not on a server of its own.
 */

const STORED = 1000;
const KEYS = 1000;
const CONNECTIONS = 20;
const SECONDS = 4;
const ROUNDS = { warmup: 1, rounds: 5 };
/**
 * On SQLite a page of 50 is read in the relay's process, in microseconds; on PostgreSQL the API
 * key's lookup and the page are queries over loopback that a backend process plans and runs and
 * pg parses back, on the same two cores as the relay and autocannon. A quarter of the SQLite
 * figure is still thousands of answers a second, far above what a team's extensions ask.
 */
const PG_GOAL = 0.25;

interface Load {
  rps: number;
  /** 2xx answers in the run. */
  answers: number;
  p99: number;
  /** CPU time of the load generator over the run, as a share of one core: ~1 means it, not the server, may be the limit. */
  generatorCpu: number;
}

type Contender = 'relay' | 'keys' | 'postgres' | 'bare';

/** What api-server.ts sends when it is ready: where each contender listens. */
interface ServerReady {
  relayUrl: string;
  keysUrl: string;
  keysSecret: string;
  pgUrl: string;
  bareUrl: string;
  bytes: number;
}

export async function run(): Promise<BenchResult[]> {
  const tmp = tempDir('api');
  const cluster = await startBenchCluster();
  try {
    const { child, ready } = await forkChild<ServerReady>('api-server.ts', {
      args: [`${tmp.dir}/relay.sqlite`, String(STORED), BENCH_API_KEY, `${tmp.dir}/keys.sqlite`, String(KEYS), await cluster.database()],
      timeoutMs: 120_000,
    });
    try {
      return await measureAll(ready, child, cluster);
    } finally {
      await child.stop();
    }
  } finally {
    await cluster.stop();
    tmp.cleanup();
  }
}

async function measureAll(ready: ServerReady, server: Child, cluster: BenchCluster): Promise<BenchResult[]> {
  log(`api: ${ready.bytes} bytes per answer, ${CONNECTIONS} connections, ${SECONDS} s per run`);
  const p99s: Record<Contender, number[]> = { relay: [], keys: [], postgres: [], bare: [] };
  // CPU an answer, µs: the relays' process, and PostgreSQL's server (the postgres contender's only).
  const perAnswer = { relay: [] as number[], postgres: [] as number[], postgresServer: [] as number[] };
  const relayCpuMs = async () => (await server.call<{ cpuMs: number }>({})).cpuMs;
  const generator: number[] = [];
  const measure = (key: Contender, base: string, apiKey = BENCH_API_KEY) => async (): Promise<number> => {
    const before = { relay: await relayCpuMs(), server: cluster.cpuMs() };
    const load = await loadTest(`${base}${LIST_PATH}`, apiKey);
    const per = (ms: number) => (ms * 1000) / load.answers;
    if (key === 'relay' || key === 'postgres') perAnswer[key].push(per((await relayCpuMs()) - before.relay));
    if (key === 'postgres') perAnswer.postgresServer.push(per(cluster.cpuMs() - before.server));
    p99s[key].push(load.p99);
    generator.push(load.generatorCpu);
    return load.rps;
  };
  const rounds = await interleaved(
    'api',
    {
      relay: measure('relay', ready.relayUrl),
      keys: measure('keys', ready.keysUrl, ready.keysSecret),
      postgres: measure('postgres', ready.pgUrl),
      bare: measure('bare', ready.bareUrl),
    },
    ROUNDS,
  );
  // The warm-up's p99s were pushed too: keep the measured rounds only.
  const relayP99 = median(p99s.relay.slice(ROUNDS.warmup));
  const bareP99 = median(p99s.bare.slice(ROUNDS.warmup));
  const relayRps = median(rounds.relay);
  const bareRps = median(rounds.bare);
  const keysRps = median(rounds.keys);
  const pgRps = median(rounds.postgres);
  const pgP99 = median(p99s.postgres.slice(ROUNDS.warmup));
  const cpu = (values: number[]) => median(values.slice(ROUNDS.warmup)).toFixed(0);
  log(
    `api medians: relay ${relayRps.toFixed(0)} req/s ${spread(rounds.relay)} p99 ${relayP99} ms; ` +
      `with ${KEYS} keys ${keysRps.toFixed(0)} req/s ${spread(rounds.keys)} p99 ${median(p99s.keys.slice(ROUNDS.warmup))} ms; bare ${bareRps.toFixed(0)} req/s ${spread(rounds.bare)} p99 ${bareP99} ms; ` +
      `on PostgreSQL ${pgRps.toFixed(0)} req/s ${spread(rounds.postgres)} p99 ${pgP99} ms; ` +
      `CPU an answer: relay on SQLite ${cpu(perAnswer.relay)} µs, relay on PostgreSQL ${cpu(perAnswer.postgres)} µs + its server ${cpu(perAnswer.postgresServer)} µs; ` +
      `with ${KEYS} keys ÷ bare ${(keysRps / bareRps).toFixed(2)}; load generator at ${(Math.max(...generator) * 100).toFixed(0)}% of a core at most`,
  );
  return [
    result('api.list_pending_50', relayRps, 'req/s', '≥ 0.6 × bare route', relayRps >= 0.6 * bareRps, {
      name: 'bare Hono route, same bytes',
      value: bareRps,
      unit: 'req/s',
    }),
    // What 1,000 people cost: the same route over a store with 1,000 more keys, called with one
    // of them, against the store with the env key alone (a stricter goal against the bare route
    // than the route itself has would measure the rest of the stack twice; that ratio is logged).
    result(`api.list_pending_50.keys_${KEYS}`, keysRps, 'req/s', '≥ 0.8 × the route without stored keys', keysRps >= 0.8 * relayRps, {
      name: 'same route, env key only',
      value: relayRps,
      unit: 'req/s',
    }),
    result('api.list_pending_50.p99', relayP99, 'ms', 'reported', true, {
      name: 'bare Hono route p99',
      value: bareP99,
      unit: 'ms',
    }),
    // PG_GOAL says why this fraction.
    result('api.list_pending_50.postgres', pgRps, 'req/s', `≥ ${PG_GOAL} × the relay on SQLite`, pgRps >= PG_GOAL * relayRps, {
      name: 'same route on SQLite',
      value: relayRps,
      unit: 'req/s',
    }),
    result('api.list_pending_50.postgres.p99', pgP99, 'ms', 'reported', true, { name: 'same route on SQLite, p99', value: relayP99, unit: 'ms' }),
  ];
}

async function loadTest(url: string, apiKey: string): Promise<Load> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const outcome = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: { authorization: `Bearer ${apiKey}`, accept: 'application/json' },
  });
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  if (outcome.errors > 0 || outcome.timeouts > 0 || outcome.non2xx > 0) {
    throw new Error(`${url}: ${outcome.errors} errors, ${outcome.timeouts} timeouts, ${outcome.non2xx} non-2xx answers`);
  }
  return {
    rps: outcome['2xx'] / outcome.duration,
    answers: outcome['2xx'],
    p99: outcome.latency.p99,
    generatorCpu: (cpu.user + cpu.system) / 1000 / wallMs,
  };
}
