import { execFile } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { staticToken } from '../../../relay/concur/auth.js';
import { ConcurClient } from '../../../relay/concur/client.js';
import { Metrics } from '../../../relay/base/metrics.js';
import { createOutbox } from '../../../relay/replies/outbox.js';
import { createPoller, type Poller } from '../../../relay/ingest/poller.js';
import type { Store } from '../../../relay/store/index.js';
import { fixtureServer } from '../../helpers/fixture-server.js';
import type { HostileKind } from '../../helpers/hostile-concur.js';
import { record, StoreHarness } from '../store/helpers.js';
import { captureLog, fixedRandom } from '../helpers.js';
import { TESTER } from '../store/helpers.js';

/**
 * The poller (and the outbox where they share code) against a hostile Concur double: a bare
 * loopback server that answers what the sandbox never would.
 */

const TOKEN = 'secret-concur-access-token';
const FIVE_MINUTES_MS = 5 * 60 * 1000;

let harness: StoreHarness;
let store: Store;
let log: ReturnType<typeof captureLog>;
const closers: Array<() => Promise<void>> = [];

beforeEach(() => {
  harness = new StoreHarness();
  store = harness.store();
  log = captureLog();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  expect(log.text()).not.toContain(TOKEN);
  harness.cleanup();
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function concurDouble(handler: Handler, host?: '127.0.0.1' | '127.0.0.2') {
  const server = await fixtureServer(handler, { host });
  closers.push(server.close);
  return server;
}

function clientOf(url: string): ConcurClient {
  return new ConcurClient({ baseUrl: url, auth: staticToken(TOKEN), timeoutMs: 3000 });
}

function poller(client: ConcurClient): Poller {
  const created = createPoller({
    client,
    store,
    intervalMs: 60_000,
    logger: log.logger,
    metrics: new Metrics(),
    now: harness.clock.now,
    random: fixedRandom(0.5),
  });
  closers.push(() => created.stop());
  return created;
}

const CR_PATH = '/api/v3.0/common/connectionrequests';

function page(ids: string[], nextPage?: string): string {
  const items = ids
    .map((id) => `<ConnectionRequest><ID>${id}</ID><FirstName>Ada</FirstName><Status>Pending</Status><RequestToken>rt-${id}</RequestToken></ConnectionRequest>`)
    .join('');
  return `<ConnectionRequests><Items>${items}</Items>${nextPage === undefined ? '' : `<NextPage>${nextPage}</NextPage>`}</ConnectionRequests>`;
}

/**
 * NextPage spellings that name another host, or a path that reads as one once re-parsed. `ours`
 * and `theirs` are host:port. Written as they appear inside the XML element.
 */
const ESCAPES: Array<[string, (ours: string, theirs: string) => string]> = [
  ['protocol-relative //host', (_o, t) => `//${t}${CR_PATH}?offset=2`],
  ['/\\host', (_o, t) => `/\\${t}${CR_PATH}?offset=2`],
  ['\\\\host', (_o, t) => `\\\\${t}${CR_PATH}?offset=2`],
  ['/.//host', (_o, t) => `/.//${t}${CR_PATH}?offset=2`],
  ['/..//host', (_o, t) => `/..//${t}${CR_PATH}?offset=2`],
  ['/%2e//host', (_o, t) => `/%2e//${t}${CR_PATH}?offset=2`],
  ['/./\\host', (_o, t) => `/./\\${t}${CR_PATH}?offset=2`],
  ['a tab inside // (removed by URL parsing)', (_o, t) => `/&#9;/${t}${CR_PATH}?offset=2`],
  ['full URL of the other host, ours in its path', (o, t) => `http://${t}//${o}${CR_PATH}?offset=2`],
  ['full URL of ours, the other host in its path', (o, t) => `http://${o}//${t}${CR_PATH}?offset=2`],
  ['full URL of ours, /\\host path', (o, t) => `http://${o}/\\${t}${CR_PATH}?offset=2`],
  ['ours as user info of the other host', (o, t) => `http://${o}@${t}${CR_PATH}?offset=2`],
  ['upper-case scheme', (_o, t) => `HTTP://${t}${CR_PATH}?offset=2`],
];

describe.each([
  ['127.0.0.2', '127.0.0.2'],
  ['another port on 127.0.0.1', '127.0.0.1'],
] as const)('a NextPage that leads to %s', (_name, otherHost) => {
  it.each(ESCAPES)('%s: refused, degraded with the reason; the other host gets no call and nothing of it is stored', async (_spelling, spell) => {
    const reached: Array<{ url: string; authorization: string | null }> = [];
    const other = await concurDouble((req, res) => {
      reached.push({ url: req.url ?? '', authorization: req.headers.authorization ?? null });
      res.writeHead(200, { 'content-type': 'application/xml' }).end(page(['FROM-OTHER-HOST']));
    }, otherHost);
    let concur: Awaited<ReturnType<typeof concurDouble>> | undefined;
    concur = await concurDouble((req, res) => {
      const first = req.url === `${CR_PATH}?status=Pending&limit=10`;
      const body = first ? page(['FIRST'], spell(`127.0.0.1:${concur!.port}`, `${other.host}:${other.port}`)) : page(['SECOND']);
      res.writeHead(200, { 'content-type': 'application/xml' }).end(body);
    });

    const r = await poller(clientOf(concur.url)).sweepNow();

    expect(reached).toEqual([]);
    expect(r).toMatchObject({ outcome: 'failed', error: { kind: 'bad_response' } });
    const status = store.state.concurStatus();
    expect(status.state).toBe('degraded');
    // The reason names where NextPage led, or the path that would have led there.
    const origin = other.url.replace(/\./g, '\\.');
    expect(status.lastError).toMatch(
      new RegExp(`^Concur's answer could not be read: NextPage (points to ${origin}(, | \\(with a user name)|has a path that starts with "//")`),
    );
    expect(status.lastError).not.toContain(TOKEN);
    // The first page came from the configured instance and is kept; nothing else is.
    expect(store.requests.get('FIRST')).toBeDefined();
    expect(store.requests.get('FROM-OTHER-HOST')).toBeUndefined();
    expect(store.requests.get('SECOND')).toBeUndefined();
  });
});

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface HostileSweep {
  outcome: string;
  errorKind: string | null;
  state: string;
  lastError: string | null;
  rssGrowthBytes: number;
  hostileStored: boolean;
}

/** One sweep against a hostile body, in a process of its own (see hostile-sweep.ts). */
function hostileSweep(kind: HostileKind, pageLimit: number): Promise<HostileSweep> {
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', join('test', 'helpers', 'hostile-sweep.ts'), kind, String(pageLimit)],
      { cwd: ROOT, timeout: 60_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as HostileSweep)),
    ),
  );
}

describe('a list body under the 5 MB cap that would exhaust memory', () => {
  const MB = 1024 * 1024;
  const cases: Array<[string, HostileKind, number, RegExp]> = [
    // The page limit the poller asks for by default (10) caps the body well below 4 MB.
    ['one 4 MB field (page limit 10)', 'long-field', 10, /: response body of more than \d+ bytes exceeds the limit of \d+ bytes/],
    // With a limit large enough for the body to be read, the scan before the parser refuses it.
    ['one 4 MB field (page limit 100)', 'long-field', 100, /: XML has more than 8192 characters without markup in <LastName>/],
    ['15,000 requests on a page of 10', 'many-items', 10, /: more than 20 connection requests on one page; the relay asked for 10/],
    ['200,000 entity references in one field', 'entity-refs', 10, /: XML has more than 8192 characters without markup in <LastName>/],
    ['200,000 entity references over 200 elements', 'entity-refs-spread', 10, /: XML has more than \d+ character or entity references/],
  ];

  it.each(cases)('%s: degraded with the reason, nothing stored, RSS growth under 50 MB', async (_name, kind, pageLimit, reason) => {
    const sweep = await hostileSweep(kind, pageLimit);
    expect(sweep).toMatchObject({ outcome: 'failed', errorKind: 'bad_response', state: 'degraded', hostileStored: false });
    expect(sweep.lastError).toMatch(/^Concur's answer could not be read: /);
    expect(sweep.lastError).toMatch(reason);
    expect(sweep.rssGrowthBytes).toBeLessThan(50 * MB);
  });
});

describe('a Retry-After far in the future', () => {
  // Seconds (about three years) and an HTTP date in the year 9999.
  const spellings = ['99999999', 'Fri, 31 Dec 9999 23:59:59 GMT'];

  it.each(spellings)('Retry-After: %s on a 429 puts the next sweep within 5 minutes', async (retryAfter) => {
    const concur = await concurDouble((_req, res) => {
      res.writeHead(429, { 'retry-after': retryAfter, 'content-type': 'application/xml' });
      res.end('<Error><Message>Too Many Requests</Message></Error>');
    });
    const p = poller(clientOf(concur.url));
    const r = await p.sweepNow();
    expect(r).toMatchObject({ outcome: 'failed', error: { kind: 'rate_limited' } });
    expect(r.nextDelayMs).toBeLessThanOrEqual(FIVE_MINUTES_MS);
    expect(p.nextSweepAt! - harness.clock.ms).toBeLessThanOrEqual(FIVE_MINUTES_MS);
    expect(store.state.concurStatus().lastError).toMatch(/\(in 5 min\)$/);
  });

  it('Retry-After: 99999999 on a 503 to a reply puts its next attempt within 5 minutes', async () => {
    const concur = await concurDouble((req, res) => {
      req.resume();
      res.writeHead(503, { 'retry-after': '99999999', 'content-type': 'application/xml' });
      res.end('<Error><Message>Down for maintenance</Message></Error>');
    });
    store.requests.upsertFromConcur([record('R1')], harness.clock.ms);
    const { replyId } = store.replies.enqueue('R1', 'CREU1', { actor: TESTER });
    const outbox = createOutbox({
      client: clientOf(concur.url),
      exchange: null,
      store,
      logger: log.logger,
      metrics: new Metrics(),
      now: harness.clock.now,
      random: fixedRandom(0.5),
    });
    closers.push(() => outbox.stop());
    await outbox.drain();
    const reply = store.replies.get(replyId)!;
    expect(reply.state).toBe('queued');
    expect(Date.parse(reply.nextAttemptAt!) - harness.clock.ms).toBeLessThanOrEqual(FIVE_MINUTES_MS);
  });
});
