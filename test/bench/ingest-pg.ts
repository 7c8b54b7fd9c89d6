import { openPgStore } from '../../relay/store/postgres/index.js';
import { pgLeadership } from '../../relay/store/postgres/leader.js';
import { Health } from '../../shared/models.js';
import { concurEnv, startRelayProcess, type RelayProcess } from '../helpers/relay-process.js';
import { TEST_VAULT } from '../helpers/vault.js';
import { type BenchResult, buildBundle, interleaved, log, median, result, spread, tempDir, until } from './lib.js';
import { type IngestTarget, startTarget, sweepInto, sweepOnce, type Swept } from './ingest-walk.js';
import { type BenchCluster, processCpuMs, startBenchCluster } from './postgres.js';
import { BENCH_API_KEY } from './records.js';

/**
 * Ingest with two relays on one PostgreSQL database (issue 18). Only the holder of the poller's
 * advisory lock sweeps; the other relay hears every event the sweep stores (LISTEN/NOTIFY) and
 * takes over should the leader go. Measured, interleaved round by round, over one 3.0 XML sandbox
 * of REQUESTS pending requests (its own process, sandbox-child.ts):
 *
 * - sqlite: one sweep of the poller into a fresh SQLite file, in this process (as ingest.ts does);
 * - pg: the same sweep into a fresh PostgreSQL database, this process holding the poller's lock;
 * - pg_two: the same, with a second relay (the shipped bundle, its own process, RELAY_DB on the
 *   same database) attached as a follower for the whole sweep; it is asked afterwards whether it
 *   polled (it must not have).
 *
 * Rows: pg_two against sqlite (what a pair of relays on PostgreSQL sweeps, against the one relay on
 * SQLite); pg_two against pg (what a follower costs the leader); the CPU a page of the follower and
 * of PostgreSQL's server (the postmaster and its backends), against the leader's own.
 * Nothing is pinned to a core: the sandbox, this process, the follower and PostgreSQL share the
 * machine's cores as they come, the same way in every contender's turn.
 */

/** Fewer than ingest.ts's 10,000: three contenders, a fresh database and a follower a round, in about a minute. */
const REQUESTS = 4_000;
const ROUNDS = { warmup: 1, rounds: 5 };
/**
 * The pages still come one at a time from the sandbox, which bounds the SQLite sweep; on
 * PostgreSQL each group of upserts is a transaction over loopback besides. Half the SQLite rate
 * still sweeps a backlog of 10,000 in well under a minute, the default poll interval.
 */
const VS_SQLITE_GOAL = 0.5;
/** A follower does nothing for a stored request but hear its event: within noise of the leader alone. */
const FOLLOWER_GOAL = 0.85;

export async function run(): Promise<BenchResult[]> {
  buildBundle();
  const cluster = await startBenchCluster();
  const tmp = tempDir('ingest-pg');
  let target: IngestTarget | undefined;
  try {
    target = await startTarget('3.0', REQUESTS);
    return await measure(target, cluster, tmp.dir);
  } finally {
    await target?.sandbox.stop();
    await cluster.stop();
    tmp.cleanup();
  }
}

interface PgSweep extends Swept {
  /** CPU of the follower (0 without one) and of PostgreSQL's server during the sweep, in ms. */
  followerMs: number;
  serverMs: number;
}

async function measure(target: IngestTarget, cluster: BenchCluster, dir: string): Promise<BenchResult[]> {
  const pages = (swept: Swept) => swept.result.pages;
  const perPage = { leader: [] as number[], follower: [] as number[], server: [] as number[], serverAlone: [] as number[] };
  let file = 0;
  const rounds = await interleaved(
    `ingest_pg ${REQUESTS} requests`,
    {
      sqlite: async () => REQUESTS / (await sweepOnce(target, `${dir}/sweep-${++file}.sqlite`)).seconds,
      pg: async () => {
        const swept = await leaderSweep(target, cluster, false);
        perPage.serverAlone.push((swept.serverMs * 1000) / pages(swept));
        return REQUESTS / swept.seconds;
      },
      pg_two: async () => {
        const swept = await leaderSweep(target, cluster, true);
        perPage.leader.push(swept.cpuMicros / pages(swept));
        perPage.follower.push((swept.followerMs * 1000) / pages(swept));
        perPage.server.push((swept.serverMs * 1000) / pages(swept));
        return REQUESTS / swept.seconds;
      },
    },
    ROUNDS,
  );
  // The warm-up's CPU figures were pushed too: keep the measured rounds only.
  const cpu = (values: number[]) => median(values.slice(ROUNDS.warmup));
  const [sqlite, pg, two] = [median(rounds.sqlite), median(rounds.pg), median(rounds.pg_two)];
  log(
    `ingest_pg medians: sqlite ${sqlite.toFixed(0)} ${spread(rounds.sqlite)}, pg ${pg.toFixed(0)} ${spread(rounds.pg)}, pg with a follower ${two.toFixed(0)} ${spread(rounds.pg_two)} req/s; ` +
      `CPU a page with a follower: leader ${cpu(perPage.leader).toFixed(0)} µs, follower ${cpu(perPage.follower).toFixed(0)} µs, ` +
      `PostgreSQL ${cpu(perPage.server).toFixed(0)} µs (${cpu(perPage.serverAlone).toFixed(0)} µs without the follower)`,
  );
  const leaderCpu = { name: 'the leader process, same sweeps', value: cpu(perPage.leader), unit: 'µs CPU/page' };
  return [
    result('ingest_pg.two_relays.3.0_xml', two, 'req/s', `≥ ${VS_SQLITE_GOAL} × one relay on SQLite`, two >= VS_SQLITE_GOAL * sqlite, {
      name: 'one relay on SQLite, same sandbox',
      value: sqlite,
      unit: 'req/s',
    }),
    result('ingest_pg.two_relays.follower_cost', two, 'req/s', `≥ ${FOLLOWER_GOAL} × the leader alone`, two >= FOLLOWER_GOAL * pg, {
      name: 'the leader alone on PostgreSQL',
      value: pg,
      unit: 'req/s',
    }),
    result('ingest_pg.two_relays.follower_cpu', cpu(perPage.follower), 'µs CPU/page', 'reported', true, leaderCpu),
    result('ingest_pg.two_relays.postgres_cpu', cpu(perPage.server), 'µs CPU/page', 'reported (the server: postmaster and backends)', true, leaderCpu),
  ];
}

/**
 * One sweep into a fresh database by this process as the holder of the poller's lock, with a
 * follower relay process attached when `follower`; fails if the follower polled.
 */
async function leaderSweep(target: IngestTarget, cluster: BenchCluster, follower: boolean): Promise<PgSweep> {
  const url = await cluster.database();
  const store = await openPgStore(url, { vault: TEST_VAULT });
  const leadership = pgLeadership({ url, retryMs: 3_600_000 });
  let second: RelayProcess | undefined;
  try {
    await until(() => leadership.isLeader(), 10_000, 'this process took the poller lock');
    if (follower) {
      second = await startRelayProcess(
        { ...concurEnv(target.ready, '3.0'), RELAY_DB: url, RELAY_API_KEYS: BENCH_API_KEY, LOG_LEVEL: 'info' },
        30_000,
        'bundle',
      );
    }
    const before = { follower: second ? processCpuMs(second.proc.pid!) : 0, server: cluster.cpuMs() };
    const swept = await sweepInto(target, store);
    const after = { follower: second ? processCpuMs(second.proc.pid!) : 0, server: cluster.cpuMs() };
    if (second) {
      const health = Health.parse(await (await fetch(`${second.url}/healthz`)).json());
      if (health.poller) throw new Error('the second relay says it polls while this process holds the lock');
    }
    return { ...swept, followerMs: after.follower - before.follower, serverMs: after.server - before.server };
  } finally {
    await second?.stop();
    await leadership.stop();
    await store.close();
  }
}
