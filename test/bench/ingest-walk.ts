import { staticToken, type TokenProvider } from '../../relay/concur/auth.js';
import { type ApiVersion, ConcurClient } from '../../relay/concur/client.js';
import { clientCredentialsGrant } from '../../relay/concur/client-credentials.js';
import { createLogger } from '../../relay/base/log.js';
import { Metrics } from '../../relay/base/metrics.js';
import { SWEEP_STATUSES, createPoller, type SweepResult } from '../../relay/ingest/poller.js';
import { openStore } from '../../relay/store/index.js';
import { type Child, forkChild } from './lib.js';
import { TEST_VAULT } from '../helpers/vault.js';

/**
 * What the ingest benchmark compares, for one API version: the relay's sweep (the poller, its
 * client, decoder and store, end to end) and the same sandbox walked page by page with fetch and
 * nothing else, following NextPage as the sweep does (3.0: XML, the pending and the processing
 * lists; 3.2: JSON, the one queue, Bearer from the client-credentials grant).
 *
 * The sandbox keeps every listed request where it was, so every round walks the same list: 3.0
 * with the quirk `processing: 'exchange'` (sandbox-child.ts; by default a listed request turns
 * Processing), 3.2 because a GET does not pop its queue, only a PUT does, and nothing here PUTs.
 */

export const INGEST_REQUESTS = 10_000;
export const INGEST_PAGE = 10;

/** The sandbox's child process (sandbox-child.ts), as it reports itself ready. */
export interface SandboxReady {
  url: string;
  accessToken: string;
  clientId: string;
  clientSecret: string;
  requests: number;
}

export interface IngestTarget {
  version: ApiVersion;
  /** `3.0 XML` or `3.2 JSON`, for row names and logs. */
  label: string;
  sandbox: Child;
  ready: SandboxReady;
  /** Shared by every sweep and walk: a 3.2 token is asked for once, before anything is timed. */
  auth: TokenProvider;
}

/** CPU time used by `work`, in microseconds, in this process and in the sandbox's (user + system), and its wall time in seconds. */
export async function withCpu<T>(
  target: IngestTarget,
  work: () => Promise<T>,
): Promise<{ value: T; seconds: number; cpuMicros: number; sandboxCpuMicros: number }> {
  const sandboxCpu = async () => (await target.sandbox.call<{ micros: number }>({ cmd: 'cpu' })).micros;
  const sandboxBefore = await sandboxCpu();
  const before = process.cpuUsage();
  const started = performance.now();
  const value = await work();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(before);
  return { value, seconds, cpuMicros: used.user + used.system, sandboxCpuMicros: (await sandboxCpu()) - sandboxBefore };
}

/** A sandbox of its own for `version`, seeded with `requests` requests (3.2: GUID ids, as Concur's). */
export async function startTarget(version: ApiVersion, requests = INGEST_REQUESTS): Promise<IngestTarget> {
  const { child: sandbox, ready } = await forkChild<SandboxReady>('sandbox-child.ts', {
    args: [String(requests), version === '3.2' ? 'guid' : 'legacy'],
  });
  const auth =
    version === '3.2'
      ? clientCredentialsGrant({ tokenUrl: `${ready.url}/oauth2/v0/token`, clientId: ready.clientId, clientSecret: ready.clientSecret })
      : staticToken(ready.accessToken);
  await auth.authorization();
  return { version, label: version === '3.2' ? '3.2 JSON' : '3.0 XML', sandbox, ready, auth };
}

export interface Swept {
  seconds: number;
  cpuMicros: number;
  sandboxCpuMicros: number;
  result: SweepResult;
}

/** One sweep of the relay's poller (its defaults) into a fresh SQLite file at `file`; fails unless every request was stored. */
export async function sweepOnce(target: IngestTarget, file: string): Promise<Swept> {
  const store = openStore(file, { vault: TEST_VAULT });
  try {
    return await sweepInto(target, store);
  } finally {
    store.close();
  }
}

/** One sweep of the relay's poller (its defaults) into `store`, empty (SQLite or PostgreSQL); fails unless every request was stored. */
export async function sweepInto(target: IngestTarget, store: Parameters<typeof createPoller>[0]['store']): Promise<Swept> {
  const poller = createPoller({
    client: new ConcurClient({ baseUrl: target.ready.url, auth: target.auth, version: target.version }),
    store,
    intervalMs: 3_600_000,
    pageLimit: INGEST_PAGE,
    logger: createLogger({ level: 'info', destination: { write: () => undefined } }),
    metrics: new Metrics(),
  });
  const { value: result, ...used } = await withCpu(target, () => poller.sweepNow());
  if (result.outcome !== 'ok' || result.created !== target.ready.requests) {
    throw new Error(`the ${target.label} sweep did not store ${target.ready.requests} requests: ${JSON.stringify(result)}`);
  }
  return { ...used, result };
}

/**
 * The same lists the sweep reads, page by page with fetch, each body read as text and NextPage found
 * in it with a regular expression: the fastest any client that follows NextPage sweeps this sandbox.
 * Returns the bodies (the parser baselines reuse 3.0's).
 */
export async function walk(target: IngestTarget): Promise<string[]> {
  const json = target.version === '3.2';
  const headers = { authorization: await target.auth.authorization(), accept: json ? 'application/json' : 'application/xml' };
  const nextPage = json ? /"NextPage":"((?:[^"\\]|\\.)*)"/ : /<NextPage>([^<]*)<\/NextPage>/;
  const bodies: string[] = [];
  for (const status of SWEEP_STATUSES[target.version]) {
    let url: string | null = json
      ? `${target.ready.url}/api/v3.2/common/connectionrequests/?limit=${INGEST_PAGE}`
      : `${target.ready.url}/api/v3.0/common/connectionrequests?status=${status}&limit=${INGEST_PAGE}`;
    while (url !== null) {
      const response: Response = await fetch(url, { headers });
      const body = await response.text();
      if (response.status !== 200) throw new Error(`sandbox answered ${response.status}: ${body.slice(0, 200)}`);
      bodies.push(body);
      const next = nextPage.exec(body)?.[1];
      url = next === undefined ? null : json ? (JSON.parse(`"${next}"`) as string) : next.replace(/&amp;/g, '&');
    }
  }
  const items = bodies.reduce((sum, body) => sum + countItems(body, json), 0);
  if (items !== target.ready.requests) throw new Error(`the ${target.label} walk read ${items} requests, expected ${target.ready.requests}`);
  return bodies;
}

/** Requests in a page, counted without parsing it (an id per request, in either format). */
function countItems(body: string, json: boolean): number {
  return (json ? body.match(/"ID":/g) : body.match(/<ConnectionRequest>/g))?.length ?? 0;
}

/**
 * `latencyMs` added to every list call at the sandbox (its latency fault): one sweep, and one walk
 * of the same lists with fetch alone, each against pages × latencyMs. The walk says how much of the
 * time above the added wait is the sandbox's own work per page (and the machine's), not the relay's.
 */
export async function latencyBound(
  target: IngestTarget,
  file: string,
  latencyMs: number,
): Promise<{ seconds: number; walkSeconds: number; pages: number }> {
  await target.sandbox.call({ cmd: 'latency', ms: latencyMs });
  try {
    const { seconds, result } = await sweepOnce(target, file);
    const started = performance.now();
    await walk(target);
    return { seconds, walkSeconds: (performance.now() - started) / 1000, pages: result.pages };
  } finally {
    await target.sandbox.call({ cmd: 'latency', ms: 0 });
  }
}
