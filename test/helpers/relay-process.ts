import Database from 'better-sqlite3';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiVersion } from '../../shared/status.js';
import { TEST_VAULT_KEY } from './vault.js';

/**
 * The relay as a process of its own, for process-level tests: from its TypeScript sources
 * (`node --import tsx relay/boot/main.ts`: what the tests are about is behaviour, not packaging), or
 * as it ships (`node dist/relay.mjs`, the bundle `npm run build:relay` makes).
 */
export interface RelayProcess {
  url: string;
  proc: ChildProcess;
  /** Every line the process wrote, stdout and stderr, as it arrived. */
  output: string[];
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** What a relay process needs of a sandbox to use it as Concur (a RunningSandbox has it all). */
export interface ConcurLike {
  url: string;
  accessToken: string;
  clientId: string;
  clientSecret: string;
}

/**
 * The variables that make a relay process use `concur` as Concur under API `version`, with the
 * partner's client credentials (a CRSUC exchanges the request token first): under 3.0 the
 * instance's static token, under 3.2 those credentials alone (the client-credentials grant, calls
 * at its token's geolocation; the password-grant exchange). `baseUrl`: where the relay is told
 * Concur is, when something stands in front of it.
 */
export function concurEnv(concur: ConcurLike, version: ApiVersion, baseUrl = concur.url): Record<string, string> {
  return {
    CONCUR_API_VERSION: version,
    CONCUR_BASE_URL: baseUrl,
    ...(version === '3.0' ? { CONCUR_ACCESS_TOKEN: concur.accessToken } : {}),
    CONCUR_CLIENT_ID: concur.clientId,
    CONCUR_CLIENT_SECRET: concur.clientSecret,
  };
}

export const tempDb = () => join(mkdtempSync(join(tmpdir(), 'relay-')), 'relay.sqlite');

export type RelayBuild = 'source' | 'bundle';

/** The shipped bundle, relative to the repository root. */
export const RELAY_BUNDLE = 'dist/relay.mjs';

/**
 * How the Dockerfile, the systemd unit and `npm run relay` start the shipped relay (a test keeps
 * them in step): the bundle, with V8's young generation capped at 2 MB per semi-space (the
 * Dockerfile says why).
 */
export const SHIPPED_NODE_ARGS: readonly string[] = ['--max-semi-space-size=2', RELAY_BUNDLE];

/**
 * `npm run build:relay`, safe for test files that run side by side. esbuild rewrites its output
 * file in place, so one file's build could cut the bundle short while another file's relay is
 * loading it: each build goes to a file of its own beside it, renamed over dist/relay.mjs (a
 * rename is atomic), and a reader sees the old bundle or the new one, whole.
 */
export function buildRelayBundle(): void {
  const own = join('dist', `.relay-${process.pid}-${Date.now()}.mjs`);
  // The script's own --outfile comes first; esbuild takes the last one given.
  const built = spawnSync('npm', ['run', 'build:relay', '--silent', '--', `--outfile=${own}`], { cwd: process.cwd(), encoding: 'utf8' });
  if (built.status !== 0) {
    rmSync(own, { force: true });
    throw new Error(`npm run build:relay failed:\n${built.stdout}\n${built.stderr}`);
  }
  renameSync(own, RELAY_BUNDLE);
}

/** How the whole run loads modules (the LTS run, test/node-lts/), passed on to every child process. */
export function nodeOptions(): Record<string, string> {
  return process.env.NODE_OPTIONS ? { NODE_OPTIONS: process.env.NODE_OPTIONS } : {};
}

export function runRelay(
  env: Record<string, string>,
  build: RelayBuild = 'source',
): { proc: ChildProcess; output: string[]; exited: Promise<number | null> } {
  const args = build === 'bundle' ? [...SHIPPED_NODE_ARGS] : ['--import', 'tsx', 'relay/boot/main.ts'];
  const proc = spawn(process.execPath, args, {
    cwd: process.cwd(),
    // Only what the test gives, plus what node needs to run: no developer settings leak in.
    // NODE_OPTIONS passes on how the whole run loads modules (the LTS run, test/node-lts/).
    // The tests' vault key unless a test sets its own (or removes it, with an empty value).
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...nodeOptions(), LOG_LEVEL: 'debug', RELAY_VAULT_KEY: TEST_VAULT_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  for (const stream of [proc.stdout!, proc.stderr!]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      output.push(...lines);
    });
    stream.on('end', () => rest && output.push(rest));
  }
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, output, exited };
}

export interface CommandRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * One run of the relay's command line to its end (`node dist/relay.mjs keys …` as it ships, or
 * from the sources), with only the environment the test gives (and what node needs to run).
 * `closeStdout`: its stdout is closed before it writes, as by `… | head`.
 */
export function runRelayCommand(
  args: readonly string[],
  env: Record<string, string>,
  options: { build?: RelayBuild; closeStdout?: boolean } = {},
): Promise<CommandRun> {
  const { build = 'bundle', closeStdout = false } = options;
  const script = build === 'bundle' ? [RELAY_BUNDLE] : ['--import', 'tsx', 'relay/boot/main.ts'];
  const proc = spawn(process.execPath, [...script, ...args], {
    cwd: process.cwd(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...nodeOptions(), RELAY_VAULT_KEY: TEST_VAULT_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Like `… | head` having read its fill before the command writes: its stdout is a closed pipe.
  if (closeStdout) proc.stdout.destroy();
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

export async function startRelayProcess(
  env: Record<string, string>,
  timeoutMs = 15_000,
  build: RelayBuild = 'source',
): Promise<RelayProcess> {
  const run = runRelay({ RELAY_PORT: '0', ...env }, build);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = run.output.find((l) => l.includes('"relay listening"'));
    if (line) {
      const url = (JSON.parse(line) as { url: string }).url;
      return {
        url,
        ...run,
        async stop(signal = 'SIGTERM') {
          if (run.proc.exitCode === null && run.proc.signalCode === null) run.proc.kill(signal);
          return run.exited;
        },
      };
    }
    if (run.proc.exitCode !== null || Date.now() > deadline) {
      run.proc.kill('SIGKILL');
      throw new Error(`relay did not start:\n${run.output.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls `check` until it returns something truthy, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Rows read from a relay's database beside the process that has it open (read-only, WAL). */
export function readDb<T>(db: string, sql: string, ...params: unknown[]): T[] {
  const sqlite = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return sqlite.prepare(sql).all(...params) as T[];
  } finally {
    sqlite.close();
  }
}
