import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { ensurePrograms, newestMatch, POSTGRES_PROGRAM } from './system-packages.js';

/**
 * A throwaway PostgreSQL cluster for the tests: one per vitest run (postgres-setup.ts), from
 * Debian's binaries (installed by the run itself on a fresh machine, system-packages.ts), on
 * 127.0.0.1 only at a free port, its socket and files in a temp folder, durability off (a crash
 * loses nothing a test cares about). Each test file takes a database of its own (`freshDatabase`).
 * PostgreSQL refuses to run as root: as root (CI) it runs as Debian's `postgres` user, in a folder
 * that user owns.
 */

/** The variable that hands the cluster's URL to the test files (and to the node-lts run's own). */
export const PG_URL_VARIABLE = 'RELAY_TEST_PG_URL';

const DIR_PREFIX = 'relay-test-pg-';
const OWNER_FILE = 'owner.pid';

export interface TestCluster {
  /** The superuser's URL on the `postgres` database. */
  readonly url: string;
  /** How long initdb and the start took, in milliseconds. */
  readonly startMs: number;
  stop(): Promise<void>;
}

interface RunAs {
  uid: number;
  gid: number;
}

/** Debian's `postgres` user when the tests run as root; nothing (this user) otherwise. */
function runAs(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error("PostgreSQL will not run as root, and there is no `postgres` user to run it as (Debian's postgresql package makes one).");
  }
  return { uid: Number(uid), gid: Number(gid) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Blocks until the process has ended (exited, or a zombie nobody will reap now), 5 s at most. */
function waitUntilGone(pid: number): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 500; i++) {
    let state: string | undefined;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    Atomics.wait(pause, 0, 0, 10);
  }
}

/** The postmaster's pid from its lock file, if it left one. */
function postmasterOf(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Clusters of runs that died without their teardown (SIGKILL, a crash): their owner is gone, so
 * their server is stopped (immediate shutdown) and their files removed.
 */
export function removeOrphanedClusters(parent = tmpdir()): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(parent).filter((n) => n.startsWith(DIR_PREFIX))) {
    const dir = join(parent, name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue; // still being made, or not ours
    }
    if (isAlive(owner)) continue;
    const postmaster = postmasterOf(dir);
    if (postmaster !== undefined && isAlive(postmaster)) {
      process.kill(postmaster, 'SIGQUIT');
      waitUntilGone(postmaster);
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    removed.push(dir);
  }
  return removed;
}

function runInitdb(bin: string, data: string, pwfile: string, as: RunAs | undefined): void {
  const run = spawnSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', `--pwfile=${pwfile}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', LC_ALL: 'C' }, timeout: 120_000, ...as },
  );
  if (run.status !== 0) {
    throw new Error(`initdb failed (${run.error ? String(run.error) : `exit ${run.status}`}):\n${run.stdout}${run.stderr}`);
  }
}

/** Starts the server and resolves once it accepts connections; rejects with its log when it exits first. */
function startServer(bin: string, dir: string, port: number, as: RunAs | undefined): Promise<ChildProcess> {
  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '300',
  };
  const args = ['-D', join(dir, 'data'), '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const server = spawn(join(bin, 'postgres'), args, { env: { PATH: process.env.PATH ?? '', LC_ALL: 'C' }, stdio: ['ignore', 'ignore', 'pipe'], ...as });
  return new Promise((resolve, reject) => {
    let log = '';
    server.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      log = (log + chunk).slice(-8_000);
      if (log.includes('database system is ready to accept connections')) resolve(server);
    });
    server.once('error', reject);
    server.once('exit', (code, signal) => reject(new Error(`postgres exited (${code ?? signal}) before it was ready:\n${log}`)));
  });
}

function stopped(server: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (server.exitCode !== null || server.signalCode !== null) resolve();
    else server.once('exit', () => resolve());
  });
}

/** Starts a cluster (installing PostgreSQL first when the machine allows it). */
export async function startCluster(): Promise<TestCluster> {
  ensurePrograms([POSTGRES_PROGRAM]);
  const bin = dirname(newestMatch(POSTGRES_PROGRAM.path)!);
  removeOrphanedClusters();
  const began = performance.now();
  const as = runAs();
  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  const password = randomBytes(18).toString('base64url');
  const pwfile = join(dir, 'password');
  writeFileSync(pwfile, password, { mode: 0o600 });
  if (as) for (const path of [dir, pwfile]) chownSync(path, as.uid, as.gid);
  // Whatever happens from here (a failed start, Ctrl-C, an uncaught error), the files go: vitest
  // ends the process on SIGINT and SIGTERM, which runs 'exit' listeners. (A SIGKILLed run's
  // cluster is removed by the next run, removeOrphanedClusters.)
  let server: ChildProcess | undefined;
  const removeNow = (): void => {
    // Immediate shutdown, waited for here (an 'exit' listener cannot await): its files go after it.
    if (server?.pid !== undefined && server.exitCode === null) {
      server.kill('SIGQUIT');
      waitUntilGone(server.pid);
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  process.once('exit', removeNow);
  let port: number;
  try {
    writeFileSync(join(dir, OWNER_FILE), String(process.pid));
    runInitdb(bin, join(dir, 'data'), pwfile, as);
    // A free port can be taken by another process before the server binds it: then another one.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        server = await startServer(bin, dir, port, as);
        break;
      } catch (error) {
        if (attempt === 3 || !String(error).includes('could not bind')) throw error;
      }
    }
  } catch (error) {
    process.off('exit', removeNow);
    removeNow();
    throw error;
  }
  const running = server;
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    startMs: performance.now() - began,
    async stop() {
      process.off('exit', removeNow);
      // SIGINT: PostgreSQL's fast shutdown (sessions ended, no waiting for clients).
      if (running.exitCode === null) running.kill('SIGINT');
      await stopped(running);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The cluster this run's setup started (or the one RELAY_TEST_PG_URL names). */
export function clusterUrl(): string {
  const url = process.env[PG_URL_VARIABLE];
  if (url === undefined || url === '') {
    throw new Error(`${PG_URL_VARIABLE} is not set: the unit project's global setup (test/helpers/postgres-setup.ts) starts the cluster and sets it`);
  }
  return url;
}

/** A new, empty database on the run's cluster, for one test file: its URL. */
export async function freshDatabase(name = `relay_test_${randomBytes(6).toString('hex')}`): Promise<string> {
  const admin = new pg.Client({ connectionString: clusterUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(clusterUrl());
  url.pathname = `/${name}`;
  return url.href;
}

/** Drops a database `freshDatabase` made, connections still open to it (a relay SIGKILLed mid-query) included. */
export async function dropDatabase(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: clusterUrl() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(new URL(url).pathname.slice(1))} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** The rows `sql` reads on the database `url` names, on a connection of its own (as an operator would read them). */
export async function onDatabase<R extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end();
  }
}
