import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { REQUEST_TOKEN_LIFETIME_MS, REQUEUE_AFTER_MS } from '../../shared/status.js';
import { DEFAULT_EXCHANGE_FORM } from '../../relay/base/config-shape.js';
import { createLogger, type Logger } from '../../relay/base/log.js';
import { Metrics } from '../../relay/base/metrics.js';
import { staticToken, type TokenProvider } from '../../relay/concur/auth.js';
import { clientCredentialsGrant } from '../../relay/concur/client-credentials.js';
import { type ApiVersion, ConcurClient } from '../../relay/concur/client.js';
import { ExchangeClient, type ExchangeForm } from '../../relay/concur/exchange.js';
import type { ExchangeSetup } from '../../relay/replies/exchange-step.js';
import { createPoller, type Poller, type PollerOptions } from '../../relay/ingest/poller.js';
import { createOutbox, type Outbox, type OutboxOptions } from '../../relay/replies/outbox.js';
import type { CallRecord } from '../../relay/sandbox/calls.js';
import { startSandbox, type RunningSandbox } from '../../relay/sandbox/server.js';
import type { Store } from '../../relay/store/index.js';
import { StoreHarness } from './store/helpers.js';

/** Helpers for the poller and outbox tests: a client for a running sandbox, its control API, a captured log. */

export const CR_PATH = '/api/v3.0/common/connectionrequests';

/**
 * Where API 3.0 and 3.2 really differ, for the tests that run against the sandbox in both
 * (`describe.each(VERSIONS)`): each test reads the difference here instead of branching on the
 * version, and asserts the same behaviour in both.
 */
export interface VersionCase {
  version: ApiVersion;
  /** The sandbox as the relay's sandbox mode starts it for the version (3.2's ids are GUIDs). */
  sandbox: { ids: 'legacy' | 'guid' };
  /** What the ids of the requests Concur makes look like: 3.0 28 characters, 3.2 GUIDs. */
  ids: RegExp;
  /** The Connection Requests path (3.2 lists at it with a trailing slash). */
  path: string;
  /** The first list call of a sweep of the pending requests: 3.0 filters by status; 3.2 has no filter and reads its queue from position 0. */
  firstListQuery: Record<string, string>;
  /** The offset a later page is asked for with: 3.0 the opaque token NextPage gave, 3.2 a position worked out by the relay. */
  laterOffset: RegExp;
  /** The status filter of each list one sweep of the relay reads (SWEEP_STATUSES): 3.0 pending then processing; 3.2 its one queue, unfiltered. */
  sweepLists: ReadonlyArray<string | undefined>;
  /** What the relay records for a request whose token Concur handed out: 3.0 Processing (its processing list); 3.2 lists every waiting request as Pending. */
  handedOut: 'Processing' | 'Pending';
  /** How long a CRRET keeps a request off the list: 3.0 not at all (Pending with a new token); 3.2 pops it from the queue for an hour. */
  crretAwayMs: number;
  /** How long the relay takes a request token to live (shared/status.ts). */
  tokenLifetimeMs: number;
  /** The sandbox quirk under which its request tokens live as long as the relay takes them to (3.2's page says a day; the sandbox's default is 15 minutes). */
  tokenLifetimeQuirk: { requestTokenLifetime: '15m' | '24h' };
  /**
   * List calls on the wire while the poller stores a page: 3.0 one (NextPage is opaque until its
   * page comes); 3.2 two (positions are known ahead, queue-pages.ts).
   */
  pagesAhead: number;
}

/** The list calls of a sweep of one list `pages` long: past a first page, a version reading ahead asks for pages beyond the end. */
export function listCallsOfSweep(v: Pick<VersionCase, 'pagesAhead'>, pages: number): number {
  return pages + (pages > 1 ? v.pagesAhead - 1 : 0);
}

export const VERSIONS: readonly VersionCase[] = [
  {
    version: '3.0',
    sandbox: { ids: 'legacy' },
    ids: /^[A-Za-z0-9]{28}$/,
    path: '/api/v3.0/common/connectionrequests',
    firstListQuery: { status: 'Pending', limit: '10' },
    laterOffset: /^\S{24}$/,
    sweepLists: ['Pending', 'Processing'],
    handedOut: 'Processing',
    crretAwayMs: 0,
    tokenLifetimeMs: REQUEST_TOKEN_LIFETIME_MS['3.0'],
    tokenLifetimeQuirk: { requestTokenLifetime: '15m' },
    pagesAhead: 1,
  },
  {
    version: '3.2',
    sandbox: { ids: 'guid' },
    ids: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    path: '/api/v3.2/common/connectionrequests',
    firstListQuery: { offset: '0', limit: '10' },
    laterOffset: /^[1-9]\d*$/,
    sweepLists: [undefined],
    handedOut: 'Pending',
    crretAwayMs: REQUEUE_AFTER_MS.CRRET,
    tokenLifetimeMs: REQUEST_TOKEN_LIFETIME_MS['3.2'],
    tokenLifetimeQuirk: { requestTokenLifetime: '24h' },
    pagesAhead: 2,
  },
];

/** A list call that starts a sweep: no offset (3.0) or position 0 (3.2). */
export const startsList = (call: Pick<CallRecord, 'query'>): boolean => call.query.offset === undefined || call.query.offset === '0';

/**
 * A client for the sandbox, as the relay makes one: under 3.0 its static token (OAuth), under 3.2
 * its client-credentials grant (Bearer, the token's geolocation). Tests parametrised over
 * `version` run the same steps against either API.
 */
export function clientFor(
  sb: RunningSandbox,
  options: { auth?: TokenProvider; timeoutMs?: number; accept?: 'xml' | 'json'; baseUrl?: string; version?: ApiVersion } = {},
): ConcurClient {
  const version = options.version ?? '3.0';
  return new ConcurClient({
    baseUrl: options.baseUrl ?? sb.url,
    auth: options.auth ?? authFor(sb, version),
    timeoutMs: options.timeoutMs ?? 3000,
    accept: options.accept,
    version,
  });
}

/** The relay's own credential for the sandbox under `version`: 3.0 its static token (OAuth), 3.2 its client-credentials grant. */
export function authFor(sb: RunningSandbox, version: ApiVersion): TokenProvider {
  if (version === '3.0') return staticToken(sb.accessToken);
  return clientCredentialsGrant({ tokenUrl: `${sb.url}/oauth2/v0/token`, clientId: sb.clientId, clientSecret: sb.clientSecret });
}

/** The exchange of request tokens with the sandbox's own client credentials, as the relay does in sandbox mode. */
export function exchangeFor(sb: RunningSandbox, form: ExchangeForm = 'legacy', options: { clientSecret?: string } = {}): ExchangeSetup {
  const client = new ExchangeClient({
    form,
    baseUrl: sb.url,
    tokenUrl: `${sb.url}/oauth2/v0/token`,
    clientId: sb.clientId,
    clientSecret: options.clientSecret ?? sb.clientSecret,
    timeoutMs: 3000,
  });
  return { client, form };
}

/** A control API call; throws on anything but 2xx so a broken setup fails loudly. */
export async function control<T = unknown>(sb: RunningSandbox, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sb.url}/_sandbox${path}`, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`sandbox ${method} ${path} answered ${res.status}: ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

export const fault = (sb: RunningSandbox, spec: Record<string, unknown>) => control(sb, 'POST', '/faults', spec);
export const clearFaults = (sb: RunningSandbox) => control(sb, 'DELETE', '/faults');

export interface SandboxRequestView {
  id: string;
  status: string;
  requestToken: string;
  retries: number;
  lastReply: string | null;
}

export async function addRequests(sb: RunningSandbox, body: unknown): Promise<SandboxRequestView[]> {
  const answer = await control<{ requests: SandboxRequestView[] }>(sb, 'POST', '/requests', body);
  return answer.requests;
}

export async function sandboxRequest(sb: RunningSandbox, id: string): Promise<SandboxRequestView> {
  return (await control<{ request: SandboxRequestView }>(sb, 'GET', `/requests/${encodeURIComponent(id)}`)).request;
}

export async function calls(sb: RunningSandbox): Promise<CallRecord[]> {
  return (await control<{ calls: CallRecord[] }>(sb, 'GET', '/calls')).calls;
}

/** An exchange of a request token, in either form: the legacy GET (3.0's) or the password grant (3.2's). */
export const isExchangeCall = (call: Pick<CallRecord, 'route' | 'grantType'>): boolean =>
  call.route === 'exchange' || (call.route === 'token' && call.grantType === 'password');

export async function listCalls(sb: RunningSandbox): Promise<CallRecord[]> {
  return (await calls(sb)).filter((call) => call.route === 'list');
}

export async function putCalls(sb: RunningSandbox, requestId?: string): Promise<CallRecord[]> {
  // A call a fault answered never reached the route, so only its path (either version's) names the request.
  const paths = requestId === undefined ? undefined : VERSIONS.map((v) => `${v.path}/${encodeURIComponent(requestId)}`);
  return (await calls(sb)).filter((call) => call.route === 'put' && (paths === undefined || paths.includes(call.path)));
}

/**
 * A partner's PUT straight to the sandbox, bypassing the relay (Concur's state changes behind its
 * back), at the version's path, whose rules apply (3.2: the PUT pops the request).
 */
export async function putDirect(sb: RunningSandbox, id: string, status: string, version: ApiVersion = '3.0'): Promise<number> {
  const res = await fetch(`${sb.url}${versionCase(version).path}/${encodeURIComponent(id)}`, {
    method: 'PUT',
    headers: { Authorization: `OAuth ${sb.accessToken}`, 'Content-Type': 'application/xml' },
    body: `<ConnectionRequest><Status>${status}</Status></ConnectionRequest>`,
  });
  await res.text();
  return res.status;
}

export interface CapturedLog {
  logger: Logger;
  lines: () => Array<Record<string, unknown>>;
  text: () => string;
}

/** A logger at debug level whose JSON lines the test can read. */
export function captureLog(): CapturedLog {
  const raw: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void raw.push(line) } });
  return {
    logger,
    lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>),
    text: () => raw.join(''),
  };
}

/** Polls `check` every few ms until it holds; fails after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 2000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A random source that always answers `value` (0.5 = the middle of the jitter range). */
export const fixedRandom = (value: number) => () => value;

/** Every secret the sandbox holds: its access token, its client secret and the request tokens. */
export function sandboxSecrets(sb: RunningSandbox): string[] {
  return [sb.accessToken, sb.clientSecret, ...sb.state.all().map((r) => r.requestToken)];
}

export function versionCase(version: ApiVersion): VersionCase {
  const found = VERSIONS.find((v) => v.version === version);
  if (found === undefined) throw new Error(`no test case for API ${version}`);
  return found;
}

/** What the sandbox of a test file (or of one version's describe block) is started with. */
export interface SandboxSetup {
  random: number;
  quirks?: Record<string, unknown>;
  /** The API version the tests speak (default 3.0): the sandbox is started as the relay's sandbox mode would for it. */
  version?: ApiVersion;
}

/**
 * One sandbox for the test file, or for the describe block it is called in (started once, seeded
 * with `random`), reset before each test (then given `quirks`, when there are), and handed to `use` then.
 */
export function sandboxPerFile(options: SandboxSetup, use: (sb: RunningSandbox) => void): void {
  let sb: RunningSandbox | undefined;
  beforeAll(async () => {
    sb = await startSandbox({ seed: false, random: options.random, ...versionCase(options.version ?? '3.0').sandbox });
  });
  afterAll(async () => {
    await sb?.close();
  });
  beforeEach(async () => {
    if (sb === undefined) throw new Error('the sandbox did not start');
    await control(sb, 'POST', '/reset', { seed: false });
    if (options.quirks !== undefined) await control(sb, 'PUT', '/quirks', options.quirks);
    use(sb);
  });
}

/** What the tests of the workers against the sandbox work with. */
export interface WorkerWorld {
  sb: RunningSandbox;
  harness: StoreHarness;
  store: Store;
  metrics: Metrics;
  log: CapturedLog;
}

/** The tests' workers on the current test's sandbox and store (the one opened last: a reopen counts). */
export interface WorkerKit {
  /** Stopped after each test. */
  running: Array<{ stop(): Promise<void> }>;
  /**
   * An outbox with the tests' defaults (the version's client, the sandbox's client credentials for
   * the version's exchange a CRSUC starts with, fixed jitter, a backoff from 1 s to 1 min, the store's clock), stopped after the test.
   */
  outbox(overrides?: Partial<OutboxOptions>): Outbox;
  /** A poller with the tests' defaults (the version's client, a 60 s interval, fixed jitter, the store's clock), stopped after the test. */
  poller(overrides?: Partial<PollerOptions>): Poller;
  /** Brings Concur's requests into the store the way the relay does: one sweep of the poller. */
  ingest(): Promise<void>;
}

/**
 * The set-up of the tests that run the poller and the outbox against the sandbox: the sandbox of
 * sandboxPerFile, and for each test a store on a temp file, metrics and a captured log, handed to
 * `use`. After each test the workers in `running` are stopped, the log is checked for every secret
 * the sandbox holds, and the store is closed and removed.
 */
export function workerWorld(options: SandboxSetup, use: (world: WorkerWorld) => void): WorkerKit {
  const running: Array<{ stop(): Promise<void> }> = [];
  const version = options.version ?? '3.0';
  let world: WorkerWorld | undefined;
  sandboxPerFile(options, (sb) => {
    const harness = new StoreHarness({ apiVersion: version });
    world = { sb, harness, store: harness.store(), metrics: new Metrics(), log: captureLog() };
    use(world);
  });
  afterEach(async () => {
    for (const worker of running.splice(0)) await worker.stop();
    if (world === undefined) return;
    // Whatever happened, the log never carried a token.
    for (const secret of sandboxSecrets(world.sb)) expect(world.log.text()).not.toContain(secret);
    world.harness.cleanup();
  });
  const current = (): WorkerWorld => {
    if (world === undefined) throw new Error('only inside a test');
    return world;
  };

  return {
    running,
    outbox(overrides = {}) {
      const { sb, harness, metrics, log } = current();
      const outbox = createOutbox({
        client: clientFor(sb, { version }),
        exchange: exchangeFor(sb, DEFAULT_EXCHANGE_FORM[version]),
        store: harness.latest,
        logger: log.logger,
        metrics,
        now: harness.clock.now,
        random: fixedRandom(0.5),
        baseDelayMs: 1000,
        maxDelayMs: 60_000,
        ...overrides,
      });
      running.push(outbox);
      return outbox;
    },
    poller,
    async ingest() {
      expect((await poller().sweepNow()).outcome).toBe('ok');
    },
  };

  function poller(overrides: Partial<PollerOptions> = {}): Poller {
    const { sb, harness, metrics, log } = current();
    const created = createPoller({
      client: clientFor(sb, { version }),
      store: harness.latest,
      intervalMs: 60_000,
      logger: log.logger,
      metrics,
      now: harness.clock.now,
      random: fixedRandom(0.5),
      ...overrides,
    });
    running.push(created);
    return created;
  }
}

/**
 * workerWorld for one Concur API version, for the tests parametrised over versions: the store holds
 * requests to that version's rules (retry limits, request-token lifetime), and the outbox and the
 * sweep use its client (3.0 XML with the static token; 3.2 JSON with a client-credentials token)
 * and its exchange (3.0 the legacy one; 3.2 the password grant, as the relay defaults to).
 */
export function versionWorld(
  version: ApiVersion,
  options: { random: number; quirks?: Record<string, unknown> },
  use: (world: WorkerWorld) => void,
): WorkerKit {
  let current: { world: WorkerWorld; client: ConcurClient } | undefined;
  const kit = workerWorld(options, (world) => {
    // The world's first store is swapped, unused, for one of the version; reopens keep the version.
    world.harness.cleanup();
    world.harness = new VersionedHarness(version);
    world.store = world.harness.store();
    // One client for the test's sweeps and outboxes, as the relay has one: 3.2's app token is fetched once.
    current = { world, client: clientFor(world.sb, { version }) };
    use(world);
  });
  const the = () => {
    if (current === undefined) throw new Error('only inside a test');
    return current;
  };
  return {
    running: kit.running,
    outbox: (overrides = {}) => kit.outbox({ client: the().client, exchange: exchangeFor(the().world.sb, version === '3.2' ? 'password' : 'legacy'), ...overrides }),
    poller: (overrides = {}) => kit.poller({ client: the().client, ...overrides }),
    async ingest() {
      expect((await kit.poller({ client: the().client }).sweepNow()).outcome).toBe('ok');
    },
  };
}

class VersionedHarness extends StoreHarness {
  constructor(private readonly version: ApiVersion) {
    super();
  }
  override store(): Store {
    return this.storeWith({ apiVersion: this.version });
  }
}
