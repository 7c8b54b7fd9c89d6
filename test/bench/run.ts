import { type BenchResult, RESULTS_JSON, RESULTS_MD, log, machine, markdownTable, mergeResults, writeResults } from './lib.js';

/**
 * `npm run bench` runs every benchmark (the relay's, then the extension's in Chromium);
 * `npm run bench -- ingest api` runs the named ones.
 * Rows are merged into results.json by name (rows of benchmarks not run, such as the extension's,
 * stay), and the whole table is printed and written to results.md with the machine line.
 * Timings never go into a test: nothing here runs under `npm test`.
 */

const BENCHES = {
  ingest: () => import('./ingest.js'),
  ingest_pg: () => import('./ingest-pg.js'),
  api: () => import('./api.js'),
  fanout: () => import('./fanout.js'),
  footprint: () => import('./footprint.js'),
  notice: () => import('./notice.js'),
  popup: () => import('./popup.js'),
  hostile: () => import('./hostile.js'),
  exchange: () => import('./exchange.js'),
  autoconnect: () => import('./autoconnect.js'),
} as const satisfies Record<string, () => Promise<{ run(): Promise<BenchResult[]> }>>;

type BenchName = keyof typeof BENCHES;
const isBench = (name: string): name is BenchName => Object.hasOwn(BENCHES, name);

const asked = process.argv.slice(2).filter((arg) => arg !== '--');
const unknown = asked.filter((name) => !isBench(name));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}\n`);
  process.exit(2);
}
const selected = asked.length > 0 ? (asked as BenchName[]) : (Object.keys(BENCHES) as BenchName[]);

const machineLine = `Measured on ${machine()}, ${new Date().toISOString().slice(0, 10)}.`;
log(machineLine);

const fresh: BenchResult[] = [];
let failed = false;
for (const name of selected) {
  const started = performance.now();
  log(`── ${name} ──`);
  try {
    const { run } = await BENCHES[name]();
    const rows = await run();
    fresh.push(...rows);
    log(`${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    process.stderr.write(`${markdownTable(rows)}\n`);
  } catch (error) {
    failed = true;
    log(`${name} FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}

const rows = mergeResults(fresh);
const table = writeResults(rows, machineLine);
process.stdout.write(`\n${machineLine}\n\n${table}\n\n`);
log(`wrote ${RESULTS_JSON} and ${RESULTS_MD}`);
process.exit(failed ? 1 : 0);
