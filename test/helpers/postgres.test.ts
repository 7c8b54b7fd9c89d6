import { execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, resolve } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { clusterUrl, freshDatabase, onDatabase, removeOrphanedClusters } from './postgres.js';

/**
 * The test cluster's promises: reachable on 127.0.0.1 only, fast rather than durable, never run as
 * root, a database of its own per test file, and nothing left behind by a run that ends without
 * its teardown.
 */

const setting = async (name: string): Promise<string> => (await onDatabase<{ v: string }>(clusterUrl(), `SELECT current_setting('${name}') AS v`))[0]!.v;

/** A process that starts a cluster of its own and prints its URL and folder, then `then`s. */
function clusterProcess(then: 'exit' | 'wait'): Promise<{ url: string; dir: string; kill: () => Promise<void> }> {
  const helper = resolve('test/helpers/postgres.ts');
  const script = `import { startCluster } from ${JSON.stringify(helper)};
    const c = await startCluster();
    const pg = (await import('pg')).default;
    const client = new pg.Client(c.url); await client.connect();
    const { rows } = await client.query("SELECT current_setting('data_directory') AS d"); await client.end();
    console.log(JSON.stringify({ url: c.url, dir: rows[0].d }));
    ${then === 'exit' ? 'process.exit(0);' : 'setInterval(() => undefined, 1000);'}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((done, fail) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n') && then === 'wait') done(parse());
    });
    const parse = () => {
      const { url, dir } = JSON.parse(out) as { url: string; dir: string };
      const ended = new Promise<void>((gone) => (child.exitCode !== null || child.signalCode !== null ? gone() : child.once('exit', () => gone())));
      return { url, dir: dirname(dir), kill: () => (child.kill('SIGKILL'), ended) };
    };
    child.once('exit', (code) => (out.includes('\n') ? done(parse()) : fail(new Error(`the cluster process ended (${code})`))));
  });
}

async function refuses(url: string): Promise<boolean> {
  return onDatabase(url, 'SELECT 1').then(
    () => false,
    () => true,
  );
}

describe('the test cluster', () => {
  it('listens on 127.0.0.1 only, with durability off, in a temp folder not owned by root', async () => {
    expect(new URL(clusterUrl()).hostname).toBe('127.0.0.1');
    expect(await setting('listen_addresses')).toBe('127.0.0.1');
    expect([await setting('fsync'), await setting('synchronous_commit'), await setting('full_page_writes')]).toEqual(['off', 'off', 'off']);
    const data = await setting('data_directory');
    expect(data.startsWith(tmpdir())).toBe(true);
    // As root (CI) it runs as Debian's postgres user; anyone else runs it as themselves.
    const runner = process.getuid?.() === 0 ? Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })) : process.getuid?.();
    expect(statSync(data).uid).toBe(runner);
    expect(runner).not.toBe(0);
  });

  it('gives each caller a new, empty database of its own', async () => {
    const [one, two] = [await freshDatabase(), await freshDatabase()];
    expect(one).not.toBe(two);
    await onDatabase(one, 'CREATE TABLE only_here (x int)');
    const tables = (url: string) => onDatabase<{ n: number }>(url, `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`);
    expect(await tables(one)).toEqual([{ n: 1 }]);
    expect(await tables(two)).toEqual([{ n: 0 }]);
  });

  it('is stopped and removed when its process ends without the teardown', async () => {
    const cluster = await clusterProcess('exit');
    expect(existsSync(cluster.dir)).toBe(false);
    expect(await refuses(cluster.url)).toBe(true);
  });

  it("is stopped and removed by the next run when its run was killed outright", async () => {
    const cluster = await clusterProcess('wait');
    await cluster.kill();
    // Still there: nothing ran in the killed process.
    expect(existsSync(cluster.dir)).toBe(true);
    expect(await refuses(cluster.url)).toBe(false);
    expect(removeOrphanedClusters()).toContain(cluster.dir);
    expect(existsSync(cluster.dir)).toBe(false);
    expect(await refuses(cluster.url)).toBe(true);
    // A live run's cluster (this one's) is left alone.
    expect(await refuses(clusterUrl())).toBe(false);
  });
});
