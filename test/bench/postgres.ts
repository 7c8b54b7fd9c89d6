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
  stop(): Promise<void>;
}

export async function startBenchCluster(): Promise<BenchCluster> {
  const cluster = await startCluster();
  log(`PostgreSQL cluster started in ${cluster.startMs.toFixed(0)} ms`);
  // freshDatabase reads the cluster's URL where the tests' setup leaves it.
  const before = process.env[PG_URL_VARIABLE];
  process.env[PG_URL_VARIABLE] = cluster.url;
  return {
    database: () => freshDatabase(),
    async stop() {
      if (before === undefined) delete process.env[PG_URL_VARIABLE];
      else process.env[PG_URL_VARIABLE] = before;
      await cluster.stop();
    },
  };
}
