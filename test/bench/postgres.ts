import { readdirSync, readFileSync } from 'node:fs';
import { freshDatabase, PG_URL_VARIABLE, startCluster } from '../helpers/postgres.js';
import { log } from './lib.js';

/**
 * A throwaway PostgreSQL cluster for one benchmark (the tests' own: Debian's binaries, 127.0.0.1,
 * a temp folder, durability off, as the `postgres` user under root), stopped and removed after.
 * Durability off is the tests' setting, not a production one: these rows measure the relay's
 * work and a local server's, not a disk's fsync.
 */
export interface BenchCluster {
  /** A new, empty database on the cluster: its URL. */
  database(): Promise<string>;
  /** CPU the server has used so far (postmaster, backends, background workers), in ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

export async function startBenchCluster(): Promise<BenchCluster> {
  const cluster = await startCluster();
  log(`PostgreSQL cluster started in ${cluster.startMs.toFixed(0)} ms`);
  // freshDatabase reads the cluster's URL where the tests' setup leaves it.
  const before = process.env[PG_URL_VARIABLE];
  process.env[PG_URL_VARIABLE] = cluster.url;
  let postmaster: number;
  try {
    postmaster = postmasterOf(cluster.url);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return {
    database: () => freshDatabase(),
    cpuMs: () => treeCpuMs(postmaster),
    async stop() {
      if (before === undefined) delete process.env[PG_URL_VARIABLE];
      else process.env[PG_URL_VARIABLE] = before;
      await cluster.stop();
    },
  };
}

/** Linux's USER_HZ: /proc's CPU times are in these ticks. */
const TICK_MS = 10;

/** Fields of /proc/<pid>/stat after the command's closing parenthesis (state is [0], ppid [1], utime [11]). */
function statFields(pid: number | string): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  } catch {
    return null;
  }
}

/** User + system CPU of one process so far, in ms. */
export function processCpuMs(pid: number): number {
  const fields = statFields(pid);
  return fields ? (Number(fields[11]) + Number(fields[12])) * TICK_MS : 0;
}

/**
 * CPU of PostgreSQL's server so far, in ms: the postmaster, its live children (backends, background
 * workers) and the children it has reaped (cutime/cstime: the backends of closed connections).
 */
function treeCpuMs(postmaster: number): number {
  const own = statFields(postmaster);
  if (own === null) return 0;
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(entry);
    if (fields !== null && Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * TICK_MS;
}

/** The postmaster listening on the URL's port (the cluster's server process, started with `-p <port>`). */
function postmasterOf(url: string): number {
  const port = new URL(url).port;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (args[0]?.endsWith('/postgres') && args[args.indexOf('-p') + 1] === port) return Number(entry);
  }
  throw new Error(`no postmaster on port ${port}`);
}
