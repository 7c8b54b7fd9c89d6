import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { staticToken } from '../../relay/concur/auth.js';
import { ConcurClient } from '../../relay/concur/client.js';
import { createLogger } from '../../relay/base/log.js';
import { Metrics } from '../../relay/base/metrics.js';
import { createPoller } from '../../relay/ingest/poller.js';
import { openStore } from '../../relay/store/index.js';
import { fixtureServer } from './fixture-server.js';
import { HOSTILE_ID, type HostileKind, hostileBody } from './hostile-concur.js';
import { TEST_VAULT } from './vault.js';

/**
 * Run in a process of its own by the poller's memory test (`node --expose-gc --import tsx
 * test/helpers/hostile-sweep.ts <kind> [pageLimit]`): one sweep of the poller against a Concur
 * double that answers a hostile list body, and how much the process's resident memory grew for it.
 * A process of its own, because RSS is the process's: a test worker's other tests would blur it.
 * Prints one JSON line.
 */

const kind = process.argv[2] as HostileKind;
const pageLimit = Number(process.argv[3] ?? '10');

const hostile = Buffer.from(hostileBody(kind));
const benign = Buffer.from(
  '<ConnectionRequests><Items><ConnectionRequest><ID>BENIGN</ID><Status>Pending</Status></ConnectionRequest></Items></ConnectionRequests>',
);
let answer = benign;
const concur = await fixtureServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/xml' }).end(answer);
});
const dir = mkdtempSync(join(tmpdir(), 'hostile-sweep-'));
const store = openStore(join(dir, 'relay.sqlite'), { vault: TEST_VAULT });
const poller = createPoller({
  client: new ConcurClient({ baseUrl: concur.url, auth: staticToken('t0ken'), timeoutMs: 20_000 }),
  store,
  intervalMs: 60_000,
  pageLimit,
  logger: createLogger({ level: 'fatal', destination: { write: () => undefined } }),
  metrics: new Metrics(),
});

try {
  // A benign sweep first: the code is loaded, compiled and the database open, so that what the
  // hostile sweep adds is its own.
  const warm = await poller.sweepNow();
  if (warm.outcome !== 'ok') throw new Error(`the benign sweep failed: ${JSON.stringify(warm.error)}`);
  answer = hostile;
  globalThis.gc?.();
  const before = process.memoryUsage.rss();
  const result = await poller.sweepNow();
  // The peak over the process's life: the hostile sweep's peak if it is the highest, as it is when
  // it costs anything (so the growth may be overstated, never understated).
  const peak = process.resourceUsage().maxRSS * 1024;
  const status = store.state.concurStatus();
  console.log(
    JSON.stringify({
      outcome: result.outcome,
      errorKind: result.error?.kind ?? null,
      state: status.state,
      lastError: status.lastError,
      rssGrowthBytes: Math.max(0, peak - before),
      hostileStored: store.requests.get(HOSTILE_ID) !== undefined || store.requests.get('H0') !== undefined,
    }),
  );
} finally {
  await poller.stop();
  store.close();
  await concur.close();
  rmSync(dir, { recursive: true, force: true });
}
