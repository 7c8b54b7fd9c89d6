import { type ChildProcess, execFileSync, fork, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What every benchmark shares: the result shape, medians over rounds, the table, the machine line,
 * and child processes that talk back over IPC (servers are measured in their own process, so the
 * load generator neither steals their CPU nor counts towards their memory).
 */

export interface BenchResult {
  /** Stable key: results.json is merged by it. */
  name: string;
  value: number;
  unit: string;
  /** Measured in the same run, the same way; null when the goal is absolute. */
  baseline: { name: string; value: number; unit: string } | null;
  /** value / baseline.value; null without a baseline. */
  ratio: number | null;
  /** The goal in words, e.g. "≥ 0.5 × ceiling". */
  goal: string;
  /** Whether the goal held in this run (rows that are only reported are always met). */
  met: boolean;
}

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = join(BENCH_DIR, '..', '..');
export const RESULTS_JSON = join(BENCH_DIR, 'results.json');
export const RESULTS_MD = join(BENCH_DIR, 'results.md');

// ---- statistics ----

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0–100) of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** max/min − 1 of the rounds, as a rough noise indicator for the log. */
export function spread(values: readonly number[]): string {
  if (values.length < 2) return '';
  const min = Math.min(...values);
  const max = Math.max(...values);
  return min > 0 ? `±${(((max - min) / 2 / median(values)) * 100).toFixed(0)}%` : '';
}

export interface RoundsOptions {
  warmup: number;
  rounds: number;
}

/**
 * Runs the named measurements interleaved (A B C, A B C, …) so that noise on the shared machine
 * hits every contender alike: `warmup` rounds are thrown away, then `rounds` are kept. Each
 * measurement returns one number (higher or lower is better: the caller knows).
 */
export async function interleaved<K extends string>(
  label: string,
  measures: Record<K, () => Promise<number>>,
  options: RoundsOptions,
): Promise<Record<K, number[]>> {
  const keys = Object.keys(measures) as K[];
  const kept = Object.fromEntries(keys.map((key) => [key, [] as number[]])) as Record<K, number[]>;
  for (let round = -options.warmup; round < options.rounds; round++) {
    const parts: string[] = [];
    for (const key of keys) {
      const value = await measures[key]();
      if (round >= 0) kept[key].push(value);
      parts.push(`${key}=${fmt(value)}`);
    }
    log(`${label} ${round < 0 ? 'warm-up' : `round ${round + 1}/${options.rounds}`}: ${parts.join('  ')}`);
  }
  return kept;
}

// ---- results ----

export function result(
  name: string,
  value: number,
  unit: string,
  goal: string,
  met: boolean,
  baseline: BenchResult['baseline'] = null,
): BenchResult {
  const ratio = baseline !== null && baseline.value !== 0 ? round(value / baseline.value, 3) : null;
  return { name, value: round(value, 3), unit, baseline: baseline && { ...baseline, value: round(baseline.value, 3) }, ratio, goal, met };
}

function round(value: number, digits: number): number {
  if (!Number.isFinite(value)) return value;
  const magnitude = Math.abs(value) >= 100 ? 1 : digits;
  const factor = 10 ** magnitude;
  return Math.round(value * factor) / factor;
}

export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/**
 * Reads results.json (an array), replaces the rows named in `fresh` and keeps the others (the
 * extension's, benchmarks not run) in their order; a row of a benchmark that ran but that it no
 * longer reports (renamed, dropped) goes. A new row goes after the last row of its benchmark (the
 * part of the name before the first dot), or at the end.
 */
export function mergeResults(fresh: readonly BenchResult[]): BenchResult[] {
  let previous: BenchResult[] = [];
  try {
    const parsed: unknown = JSON.parse(readFileSync(RESULTS_JSON, 'utf8'));
    if (Array.isArray(parsed)) previous = parsed as BenchResult[];
  } catch {
    // first run
  }
  const benchOf = (name: string) => name.split('.')[0];
  const byName = new Map(fresh.map((row) => [row.name, row]));
  const ran = new Set(fresh.map((row) => benchOf(row.name)));
  const merged = previous
    .filter((row) => byName.has(row.name) || !ran.has(benchOf(row.name)))
    .map((row) => byName.get(row.name) ?? row);
  const known = new Set(merged.map((row) => row.name));
  for (const row of fresh) {
    if (known.has(row.name)) continue;
    let at = -1;
    merged.forEach((other, i) => {
      if (benchOf(other.name) === benchOf(row.name)) at = i;
    });
    if (at === -1) merged.push(row);
    else merged.splice(at + 1, 0, row);
  }
  return merged;
}

export function writeResults(rows: readonly BenchResult[], machineLine: string): string {
  writeFileSync(RESULTS_JSON, `${JSON.stringify(rows, null, 2)}\n`);
  const table = markdownTable(rows);
  writeFileSync(RESULTS_MD, `${machineLine}\n\n${table}\n`);
  return table;
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

export function markdownTable(rows: readonly BenchResult[]): string {
  const lines = [
    '| benchmark | value | baseline (same run) | ratio | goal | met |',
    '|---|---:|---|---:|---|:-:|',
  ];
  for (const row of rows) {
    const baseline = row.baseline ? `${row.baseline.name}: ${fmt(row.baseline.value)} ${row.baseline.unit}` : '–';
    const ratio = row.ratio === null ? '–' : row.ratio.toFixed(row.ratio >= 10 ? 1 : 2);
    lines.push(
      `| ${cell(row.name)} | ${fmt(row.value)} ${cell(row.unit)} | ${cell(baseline)} | ${ratio} | ${cell(row.goal)} | ${row.met ? 'yes' : '**no**'} |`,
    );
  }
  return lines.join('\n');
}

/** CPU model, cores, memory, Node version, OS: the line the README puts above the table. */
export function machine(): string {
  const cpu = cpus();
  const model = (cpu[0]?.model ?? 'unknown CPU').replace(/\s+/g, ' ').trim();
  const gb = (totalmem() / 1024 ** 3).toFixed(1);
  return `${model}, ${cpu.length} cores, ${gb} GB RAM, Node ${process.version}, ${platform()} ${release()} ${arch()}`;
}

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

// ---- helpers for the benchmarks ----

export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `bench-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits until `check` holds (a throw counts as not yet), polling every 50 ms; fails with `what` after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** A port that was free a moment ago (for processes that must be told theirs up front). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A request/response channel to a child started with `fork` (IPC). */
/**
 * Gives two processes a CPU core each (Linux `taskset`, every thread), and returns the undo.
 * On a 2-core VM a loopback exchange otherwise runs the two ends on one core in turn: the
 * kernel wakes the server on the client's core (it is cache-hot there) and the client waits in
 * its write() while the server works. Concur runs on other machines; one core each says so.
 * Null (nothing changed) where there is no taskset or fewer than two cores.
 */
export function oneCoreEach(ours: number, theirs: number): (() => void) | null {
  if (cpus().length < 2) return null;
  const set = (pid: number, list: string) => execFileSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' });
  let before: string;
  try {
    before = execFileSync('taskset', ['-p', '-c', String(ours)], { encoding: 'utf8' }).split(':').at(-1)!.trim();
    set(ours, '0');
    set(theirs, '1');
  } catch {
    return null;
  }
  return () => {
    try {
      set(ours, before);
    } catch {
      // the process keeps its single core: later benchmarks are slower, not wrong
    }
  };
}

export interface Child {
  proc: ChildProcess;
  /** Sends `{id, ...message}` and resolves with the child's `{id, ...}` answer. */
  call<T>(message: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Forks a TypeScript module under test/bench (through tsx, as the relay runs), waits for its
 * `{ready: …}` message and returns the channel and what it sent with ready.
 */
export async function forkChild<R>(
  script: string,
  options: { args?: string[]; execArgv?: string[]; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ child: Child; ready: R }> {
  const proc = fork(join(BENCH_DIR, script), options.args ?? [], {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx', ...(options.execArgv ?? [])],
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const waiting = new Map<number, (value: unknown) => void>();
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const ready = await new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not get ready`)), options.timeoutMs ?? 30_000);
    proc.once('exit', (code) => reject(new Error(`${script} exited (${code}) before it was ready`)));
    proc.on('message', (raw) => {
      const message = raw as { id?: number; ready?: R };
      if (message.ready !== undefined) {
        clearTimeout(timer);
        resolve(message.ready);
      } else if (message.id !== undefined) {
        waiting.get(message.id)?.(message);
        waiting.delete(message.id);
      }
    });
  });
  const child: Child = {
    proc,
    call<T>(message: Record<string, unknown>, timeoutMs = 60_000) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${script}: no answer to ${JSON.stringify(message)}`)), timeoutMs);
        waiting.set(id, (value) => {
          clearTimeout(timer);
          resolve(value as T);
        });
        proc.send({ id, ...message });
      });
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
  return { child, ready };
}

/** In a child: answers `{id, ...}` messages with `{id, ...handler(message)}`. */
export function serveParent(handler: (message: Record<string, unknown>) => Promise<Record<string, unknown>> | Record<string, unknown>): void {
  process.on('message', (raw) => {
    const message = raw as Record<string, unknown> & { id: number };
    void (async () => {
      try {
        process.send?.({ id: message.id, ...(await handler(message)) });
      } catch (error) {
        process.send?.({ id: message.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      }
    })();
  });
  process.on('SIGTERM', () => process.exit(0));
  process.on('disconnect', () => process.exit(0));
}

/** `npm run build:relay`, the build that ships (dist/relay.mjs). */
export function buildBundle(): void {
  const built = spawnSync('npm', ['run', 'build:relay', '--silent'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (built.status !== 0 || !existsSync(join(REPO_ROOT, 'dist', 'relay.mjs'))) {
    throw new Error(`npm run build:relay failed: ${built.stdout}${built.stderr}`);
  }
}
