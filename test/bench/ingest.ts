import { SaxesParser } from 'saxes';
import { Parser as Xml2jsParser } from 'xml2js';
import type { ApiVersion } from '../../relay/concur/client.js';
import { decodePage } from '../../relay/concur/decode.js';
import { send } from '../../relay/concur/http.js';
import { AllowedOrigins } from '../../relay/concur/origins.js';
import type { ConcurRecord } from '../../relay/concur/record.js';
import { openStore } from '../../relay/store/index.js';
import { type BenchResult, interleaved, log, median, oneCoreEach, result, spread, tempDir } from './lib.js';
import { INGEST_REQUESTS, type IngestTarget, latencyBound, startTarget, sweepOnce, walk, withCpu } from './ingest-walk.js';
import { TEST_VAULT } from '../helpers/vault.js';

/**
 * 1. Ingest, for API 3.0 (XML) and 3.2 (JSON). For each, a sandbox (its own process, on a core of
 * its own where `taskset` allows: see `oneCoreEach`) holds 10,000 pending connection requests and
 * serves them in pages of 10 (ingest-walk.ts). Measured, interleaved round by round, in this
 * process on the other core:
 *
 * - relay: one real sweep of the poller over loopback HTTP — ConcurClient (node:http, size cap),
 *   decode.ts (3.0: DTD check, size bounds, one strict pass of saxes; 3.2: JSON.parse; zod for
 *   both) and the store's upserts (with their request.created events) into a fresh SQLite file.
 *   End to end, wall clock.
 * - walk (`ingest.vs_walk.*`, goal ≥ 0.8): the same sandbox, the same lists, page by page with
 *   fetch alone, NextPage found with a regular expression: what a sweep cannot beat, since each
 *   page names the next (3.0) or the queue must be read in order (3.2), and each is built when asked.
 * - latency bound (`ingest.latency_bound.*`, goal ≤ 1.05): one sweep with 30 ms added to every
 *   list call at the sandbox (its latency fault), against pages × 30 ms: with a Concur far away,
 *   the relay's own work should hide behind the wait for the next page.
 *
 * 3.0 only, reported: saxes alone (ceiling) and xml2js (peer) over the same bodies,
 * fetched once beforehand; the same bodies from a bare node:http server (floor); decode.ts alone
 * and the store's upserts alone (groups of 100), to say where a sweep's time goes; and the bare
 * server's pages each 30 ms late, fetched one by one by the relay's HTTP client
 * (`ingest.latency_bound.3.0_xml.floor`): what the latency bound cannot go below on this machine.
 *
 * Unit: connection requests per second (10,000 / seconds); the latency bound in seconds.
 */

/** The poller's default group of records per transaction. */
const GROUP = 100;
const ROUNDS = { warmup: 1, rounds: 5 };
const LATENCY_MS = 30;
const VERSIONS: readonly ApiVersion[] = ['3.0', '3.2'];

type Measure = () => Promise<number>;

export async function run(): Promise<BenchResult[]> {
  const rows: BenchResult[] = [];
  for (const version of VERSIONS) {
    const target = await startTarget(version);
    const tmp = tempDir(`ingest-${version}`);
    // The sandbox plays Concur, which runs elsewhere: it gets a core of its own, the relay and its
    // baselines (all in this process) the other.
    const unpin = oneCoreEach(process.pid, target.sandbox.proc.pid!);
    log(`ingest ${target.label}: ${unpin ? 'this process on core 0, the sandbox on core 1' : 'cores not pinned (no taskset or one core)'}`);
    try {
      rows.push(...(await measure(target, tmp.dir)));
    } finally {
      unpin?.();
      await target.sandbox.stop();
      tmp.cleanup();
    }
  }
  return rows;
}

async function measure(target: IngestTarget, dir: string): Promise<BenchResult[]> {
  const key = target.version === '3.2' ? '3.2_json' : '3.0_xml';
  let sweepNo = 0;
  // CPU per page, µs, by round: this process and the sandbox's, for the sweep and for the walk.
  const cpu = { relay: [] as number[], relaySandbox: [] as number[], walk: [] as number[], walkSandbox: [] as number[], walkWall: [] as number[] };
  const relay: Measure = async () => {
    const swept = await sweepOnce(target, `${dir}/sweep-${++sweepNo}.sqlite`);
    cpu.relay.push(swept.cpuMicros / swept.result.pages);
    cpu.relaySandbox.push(swept.sandboxCpuMicros / swept.result.pages);
    return INGEST_REQUESTS / swept.seconds;
  };
  const walked: Measure = async () => {
    const { value: bodies, seconds, cpuMicros, sandboxCpuMicros } = await withCpu(target, () => walk(target));
    cpu.walk.push(cpuMicros / bodies.length);
    cpu.walkSandbox.push(sandboxCpuMicros / bodies.length);
    cpu.walkWall.push((seconds * 1e6) / bodies.length);
    return INGEST_REQUESTS / seconds;
  };
  const parsers = target.version === '3.0' ? await parserMeasures(target, dir) : null;

  const measures: Record<string, Measure> = { relay, walk: walked, ...parsers?.measures };
  const rounds = await interleaved(`ingest ${target.label}`, measures, ROUNDS);
  const of = (name: string): number[] => rounds[name] ?? [];
  const relayRps = median(of('relay'));
  const walkRps = median(of('walk'));
  log(`ingest ${target.label} medians: relay ${relayRps.toFixed(0)} ${spread(of('relay'))}, walk ${walkRps.toFixed(0)} ${spread(of('walk'))}`);
  const perPage = (values: number[]) => `${median(values).toFixed(0)} µs ${spread(values)}`;
  log(
    `ingest ${target.label} CPU a page (medians): sweep ${perPage(cpu.relay)} here + ${perPage(cpu.relaySandbox)} in the sandbox; ` +
      `walk ${perPage(cpu.walk)} here + ${perPage(cpu.walkSandbox)} in the sandbox, ${perPage(cpu.walkWall)} of wall time`,
  );

  const bound = await latencyBound(target, `${dir}/latency.sqlite`, LATENCY_MS);
  const boundFloor = parsers === null ? null : await parsers.latencyFloor(LATENCY_MS);
  const floorSeconds = (bound.pages * LATENCY_MS) / 1000;
  const waited = { name: `${bound.pages} pages × ${LATENCY_MS} ms (${target.label})`, value: floorSeconds, unit: 's' };
  log(
    `ingest ${target.label} with ${LATENCY_MS} ms a page: relay ${bound.seconds.toFixed(2)} s, walk ${bound.walkSeconds.toFixed(2)} s ` +
      `for ${bound.pages} pages (${floorSeconds.toFixed(2)} s of added waiting)`,
  );

  const rows = [
    result(`ingest.vs_walk.${key}`, relayRps, 'req/s', '≥ 0.8 × walk', relayRps >= 0.8 * walkRps, {
      name: `the sandbox walked page by page, fetch only (${target.label})`,
      value: walkRps,
      unit: 'req/s',
    }),
    // What bounds the first row: the sweep's own CPU per page, against the time the walk takes a page.
    // Were every microsecond of it hidden behind the sandbox's work, the sweep still could not beat it.
    result(`ingest.vs_walk.${key}.cpu`, median(cpu.relay), 'µs CPU/page', 'reported (≤ 1.25 × the walk\'s page time needed for ≥ 0.8)', true, {
      name: `the walk's wall time a page (${target.label})`,
      value: median(cpu.walkWall),
      unit: 'µs/page',
    }),
    result(`ingest.latency_bound.${key}`, bound.seconds, 's', `≤ 1.05 × pages × ${LATENCY_MS} ms`, bound.seconds <= 1.05 * floorSeconds, waited),
    // The same wait for fetch alone: the part of the bound that is the sandbox's own work per page.
    result(`ingest.latency_bound.${key}.walk`, bound.walkSeconds, 's', 'reported (the walk under the same latency)', true, waited),
    // The same wait with no sandbox and no relay: what one page after another costs this machine.
    ...(boundFloor === null
      ? []
      : [result(`ingest.latency_bound.${key}.floor`, boundFloor, 's', 'reported (a bare server, the same wait, fetched as the relay fetches)', true, waited)]),
  ];
  return parsers === null ? rows : [...rows, ...parsers.rows(of, relayRps)];
}

/**
 * 3.0's parser baselines over the bodies of one walk: saxes reading them and building nothing (the
 * relay's reader, so the ceiling of its decoding), xml2js (default options, as Concur's Node
 * SDK uses it), the bodies from a bare server, and the relay's two halves on their own.
 */
async function parserMeasures(target: IngestTarget, dir: string) {
  const bodies = await walk(target);
  const bytes = bodies.reduce((sum, body) => sum + Buffer.byteLength(body), 0);
  log(`ingest 3.0 XML: ${bodies.length} pages, ${(bytes / 1024).toFixed(0)} KiB, ${INGEST_REQUESTS} requests`);
  const { url: floorUrl } = await target.sandbox.call<{ url: string }>({ cmd: 'floor', bodies });

  const timed = (work: () => Promise<number> | number): Measure => async () => {
    const started = performance.now();
    check(await work());
    return INGEST_REQUESTS / ((performance.now() - started) / 1000);
  };
  const xml2js = new Xml2jsParser();
  const records: ConcurRecord[] = bodies.flatMap((body) => decodePage(body, 'application/xml; charset=utf-8').items);
  let storeNo = 0;

  const measures = {
    floor: timed(async () => {
      let got = 0;
      for (let i = 0; i < bodies.length; i++) {
        const response = await fetch(`${floorUrl}/${i}`, { headers: { accept: 'application/xml' } });
        got += (await response.text()).match(/<ConnectionRequest>/g)?.length ?? 0;
      }
      return got;
    }),
    ceiling: timed(() => {
      let items = 0;
      for (const body of bodies) {
        const parser = new SaxesParser();
        parser.on('opentag', (tag) => {
          if (tag.name === 'ConnectionRequest') items++;
        });
        parser.write(body).close();
      }
      return items;
    }),
    peer: timed(async () => {
      let items = 0;
      for (const body of bodies) {
        const parsed = (await xml2js.parseStringPromise(body)) as {
          ConnectionRequests: { Items: Array<{ ConnectionRequest?: unknown[] } | string> };
        };
        const list = parsed.ConnectionRequests.Items[0];
        items += typeof list === 'object' ? (list.ConnectionRequest?.length ?? 0) : 0;
      }
      return items;
    }),
    decodeOnly: timed(() => bodies.reduce((sum, body) => sum + decodePage(body, 'application/xml; charset=utf-8').items.length, 0)),
    storeOnly: async () => {
      const store = openStore(`${dir}/store-${++storeNo}.sqlite`, { vault: TEST_VAULT });
      try {
        return await timed(() => {
          let created = 0;
          for (let from = 0; from < records.length; from += GROUP) {
            created += store.requests.upsertFromConcur(records.slice(from, from + GROUP), Date.now()).created.length;
          }
          return created;
        })();
      } finally {
        store.close();
      }
    },
  };

  const rows = (of: (name: keyof typeof measures) => number[], relayRps: number): BenchResult[] => {
    const rps = (name: keyof typeof measures) => {
      log(`ingest 3.0 XML ${name}: ${median(of(name)).toFixed(0)} ${spread(of(name))}`);
      return median(of(name));
    };
    const ceiling = { name: 'saxes alone', value: rps('ceiling'), unit: 'req/s' };
    return [
      result('ingest.poll_vs_ceiling', relayRps, 'req/s', 'reported (was ≥ 0.5 × ceiling)', true, ceiling),
      result('ingest.poll_vs_peer', relayRps, 'req/s', 'reported (was ≥ 3 × peer)', true, { name: 'xml2js alone', value: rps('peer'), unit: 'req/s' }),
      result('ingest.http_floor', rps('floor'), 'req/s', 'reported (fetch only, bare server)', true, ceiling),
      result('ingest.decode_only', rps('decodeOnly'), 'req/s', 'reported (decode.ts alone, same bodies)', true, ceiling),
      result('ingest.store_only', rps('storeOnly'), 'req/s', 'reported (store upserts alone, groups of 100)', true, ceiling),
    ];
  };
  /**
   * The same pages from the bare server, each after a timer of `latencyMs` there, fetched one after
   * the other through the relay's own HTTP client: the least a page can take on this machine
   * when it comes `latencyMs` late, whoever asks for it. Seconds for all of them.
   */
  const latencyFloor = async (latencyMs: number): Promise<number> => {
    const allowedOrigins = new AllowedOrigins([floorUrl]);
    const started = performance.now();
    let got = 0;
    for (let i = 0; i < bodies.length; i++) {
      const url = `${floorUrl}/${i}?wait=${latencyMs}`;
      const response = await send({ method: 'GET', url, headers: { accept: 'application/xml' }, timeoutMs: 10_000, maxBytes: 1 << 20, allowedOrigins });
      got += response.body.match(/<ConnectionRequest>/g)?.length ?? 0;
    }
    check(got);
    return (performance.now() - started) / 1000;
  };
  return { measures, rows, latencyFloor };
}

function check(items: number): void {
  if (items !== INGEST_REQUESTS) throw new Error(`parsed ${items} requests, expected ${INGEST_REQUESTS}`);
}

