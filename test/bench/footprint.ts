import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchResult, REPO_ROOT, buildBundle, forkChild, freePort, log, median, result, sleep, spread, tempDir } from './lib.js';
import { SHIPPED_NODE_ARGS } from '../helpers/relay-process.js';
import { BENCH_API_KEY } from './records.js';

/**
 * 6. Relay footprint. The relay is started exactly as it ships: `npm run build:relay` bundles it
 * (once, at the start of the benchmark) into dist/relay.mjs, which the Dockerfile, the systemd
 * unit and `npm run relay` run with plain node (`node --max-semi-space-size=2 dist/relay.mjs`,
 * SHIPPED_NODE_ARGS); against the sandbox (its own process) holding 1,000 pending requests, with a
 * fresh database each time.
 *
 * - Cold start: spawn → first 200 from /healthz (polled every 5 ms). Baseline: a bare node:http
 *   server answering /healthz, spawned and polled the same way.
 * - Idle memory: once the first poll has stored the 1,000 requests (GET /api/v1/summary), 2 s
 *   of quiet, then the process's RSS (/proc/<pid>/status, 5 samples, median). No GC is forced:
 *   production has no way to force one either. Baseline: the bare server's idle RSS.
 * - Reported, not the goal: the relay run from its TypeScript sources through tsx (`node --import
 *   tsx relay/boot/main.ts`, TSX_TSCONFIG_PATH=tsconfig.relay.json), as the tests and `npm run sandbox`
 *   run it and as it shipped before the bundle: its start with an empty tsx cache (tsx compiles the
 *   sources on the way and keeps them under $TMPDIR), with a warm one, and its idle memory.
 */

const STORED = 1000;
const ROUNDS = { warmup: 1, rounds: 4 };
const SETTLE_MS = 2000;

type Variant = 'bare' | 'bundle' | 'tsxCold' | 'tsxWarm';

interface Started {
  proc: ChildProcess;
  port: number;
  startMs: number;
}

export async function run(): Promise<BenchResult[]> {
  const tmp = tempDir('footprint');
  const { child: sandbox, ready } = await forkChild<{ url: string; accessToken: string }>('sandbox-child.ts', {
    args: [String(STORED)],
  });
  const warmCache = join(tmp.dir, 'tsx-cache-warm');
  mkdirSync(warmCache);
  buildBundle();
  const variants: Variant[] = ['bare', 'bundle', 'tsxCold', 'tsxWarm'];
  const starts: Record<Variant, number[]> = { bare: [], bundle: [], tsxCold: [], tsxWarm: [] };
  const rss: Record<Variant, number[]> = { bare: [], bundle: [], tsxCold: [], tsxWarm: [] };
  let runNo = 0;

  const startOne = async (variant: Variant): Promise<Started> => {
    const port = await freePort();
    const dir = join(tmp.dir, `run-${++runNo}`);
    mkdirSync(dir);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'production',
      ...(variant === 'tsxCold' || variant === 'tsxWarm' ? { TSX_TSCONFIG_PATH: 'tsconfig.relay.json' } : {}),
      CONCUR_BASE_URL: ready.url,
      CONCUR_ACCESS_TOKEN: ready.accessToken,
      RELAY_API_KEYS: BENCH_API_KEY,
      RELAY_HOST: '127.0.0.1',
      RELAY_PORT: String(port),
      RELAY_DB: join(dir, 'relay.sqlite'),
      LOG_LEVEL: 'info',
      // tsx's cache lives in $TMPDIR: an empty folder per start, or one kept across starts.
      TMPDIR: variant === 'tsxWarm' ? warmCache : dir,
    };
    const args =
      variant === 'bare'
        ? ['-e', BARE_SERVER]
        : variant === 'bundle'
          ? [...SHIPPED_NODE_ARGS]
          : ['--import', 'tsx', 'relay/boot/main.ts'];
    const startMs = performance.now();
    const proc = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr = (stderr + text).slice(-4000);
    });
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`${variant} exited with ${proc.exitCode}: ${stderr}`);
      if (performance.now() - startMs > 30_000) {
        proc.kill('SIGKILL');
        throw new Error(`${variant} was not healthy after 30 s: ${stderr}`);
      }
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      await sleep(5);
    }
    return { proc, port, startMs: performance.now() - startMs };
  };

  try {
    for (let round = -ROUNDS.warmup; round < ROUNDS.rounds; round++) {
      const parts: string[] = [];
      for (const variant of variants) {
        const started = await startOne(variant);
        try {
          let idle = Number.NaN;
          // The empty-cache start is only timed; the idle memory of the sources through tsx is measured
          // on the start with a warm cache (the same process once started).
          if (variant !== 'tsxCold') {
            if (variant !== 'bare') await untilIngested(started.port);
            await sleep(variant === 'bare' ? 500 : SETTLE_MS);
            idle = await idleRss(started.proc.pid!);
          }
          if (round >= 0) {
            starts[variant].push(started.startMs);
            if (!Number.isNaN(idle)) rss[variant].push(idle);
          }
          parts.push(`${variant} ${started.startMs.toFixed(0)} ms${Number.isNaN(idle) ? '' : ` ${idle.toFixed(1)} MB`}`);
        } finally {
          started.proc.kill('SIGTERM');
          await new Promise((resolve) => (started.proc.exitCode !== null ? resolve(null) : started.proc.once('exit', resolve)));
        }
      }
      log(`footprint ${round < 0 ? 'warm-up' : `round ${round + 1}/${ROUNDS.rounds}`}: ${parts.join('  ')}`);
    }
  } finally {
    await sandbox.stop();
    tmp.cleanup();
  }

  const m = (values: number[]) => median(values);
  for (const variant of variants) {
    log(`footprint ${variant}: start ${m(starts[variant]).toFixed(0)} ms ${spread(starts[variant])}${rss[variant].length ? `, idle ${m(rss[variant]).toFixed(1)} MB ${spread(rss[variant])}` : ''}`);
  }
  const bareStart = { name: 'bare node:http server', value: m(starts.bare), unit: 'ms' };
  const bareRss = { name: 'bare node:http server, idle', value: m(rss.bare), unit: 'MB' };
  return [
    result('footprint.cold_start', m(starts.bundle), 'ms', '< 1000 ms', m(starts.bundle) < 1000, bareStart),
    result('footprint.idle_rss_1000_requests', m(rss.bundle), 'MB', '< 100 MB', m(rss.bundle) < 100, bareRss),
    result('footprint.cold_start.tsx_source', m(starts.tsxCold), 'ms', 'reported (sources through tsx, empty cache)', true, bareStart),
    result('footprint.cold_start.tsx_cache_warm', m(starts.tsxWarm), 'ms', 'reported (sources through tsx, warm cache)', true, bareStart),
    result('footprint.idle_rss_1000_requests.tsx_source', m(rss.tsxWarm), 'MB', 'reported (sources through tsx)', true, bareRss),
  ];
}

const BARE_SERVER = `require('node:http').createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}')).listen(Number(process.env.RELAY_PORT), '127.0.0.1')`;

async function untilIngested(port: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/summary`, { headers: { authorization: `Bearer ${BENCH_API_KEY}` } });
    const summary = (await res.json()) as { counts?: { pending?: number } };
    if ((summary.counts?.pending ?? 0) >= STORED) return;
    if (Date.now() > deadline) throw new Error(`the relay did not store ${STORED} requests in 60 s: ${JSON.stringify(summary)}`);
    await sleep(50);
  }
}

/** Median of 5 RSS samples, 200 ms apart, in MB (Linux: /proc). */
async function idleRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
    samples.push(kb / 1024);
    await sleep(200);
  }
  return median(samples);
}

