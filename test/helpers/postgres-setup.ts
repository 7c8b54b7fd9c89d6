import type { TestProject } from 'vitest/node';
import { PG_URL_VARIABLE, startCluster } from './postgres.js';

/**
 * The unit project's global setup: one PostgreSQL cluster for the whole run, its URL handed to
 * the test files in RELAY_TEST_PG_URL. A URL already set is used as it is: the node-lts project's
 * nested run gets the outer run's cluster that way, and a developer may point the tests at a
 * server of their own. RELAY_TEST_PG_TIMING=1 prints how long the start took (about half a second
 * on an idle machine, initdb included).
 */
export default async function startPostgres(_project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env[PG_URL_VARIABLE]) return undefined;
  const cluster = await startCluster();
  process.env[PG_URL_VARIABLE] = cluster.url;
  if (process.env.RELAY_TEST_PG_TIMING) process.stderr.write(`[test setup] PostgreSQL cluster started in ${Math.round(cluster.startMs)} ms\n`);
  return async () => {
    delete process.env[PG_URL_VARIABLE];
    await cluster.stop();
  };
}
