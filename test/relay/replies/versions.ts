import type { ExchangeForm } from '../../../relay/concur/exchange.js';
import type { CallRecord } from '../../../relay/sandbox/calls.js';
import type { RunningSandbox } from '../../../relay/sandbox/server.js';
import type { SandboxStatus } from '../../../relay/sandbox/state.js';
import { calls, clientFor, exchangeFor, versionWorld, type WorkerWorld } from '../helpers.js';
import { REQUEST_TOKEN_LIFETIME_MS, REQUEUE_AFTER_MS, RETRY_LIMITS, type ApiVersion, type ReplyCode } from '../../../shared/status.js';

/**
 * Where the replies suite's two Concur API versions differ for a real reason, in one table: the
 * tests run the same steps over both and read each difference from here, never from an
 * `if (version …)` of their own.
 */
export interface VersionCase {
  version: ApiVersion;
  /** The resource a PUT goes to. */
  resource: string;
  /** How the relay's own credential is sent: 3.0 the static token (OAuth), 3.2 a client-credentials JWT (Bearer only). */
  authScheme: 'OAuth' | 'Bearer';
  /** How a CRSUC's exchange goes by default: 3.0 getaccesstoken.ashx, 3.2 the password grant. */
  exchange: ExchangeForm;
  /** How the traveller's token from that exchange is sent: a legacy token as OAuth; an OAuth 2.0 JWT as Bearer only. */
  travellerScheme: 'OAuth' | 'Bearer';
  /** The connection's instance URL from that exchange: the legacy answer's Instance_URL (with its `/`), the password grant's geolocation. */
  instanceUrl: (origin: string) => string;
  /** How long the relay takes a request token to live, and the sandbox quirk that makes the sandbox agree (as sandbox mode does). */
  tokenLifetimeMs: number;
  quirks: { requestTokenLifetime: '15m' | '24h' };
  /** The CRRETs Concur accepts per request before the next one fails it. */
  crretLimit: number;
  /**
   * What Concur itself holds for a request right after each reply: 3.2's CRRET and CREU* pop it
   * from the queue (Pending again later, with a new token); 3.0's CREU* fail it at once.
   */
  after: Readonly<Record<ReplyCode, SandboxStatus>>;
  /** How a request the relay swept shows in its store: 3.0's processing list says Processing; 3.2's queue says Pending for all. */
  listedAs: 'Processing' | 'Pending';
  /**
   * The list calls of a sweep of 12 waiting requests (10 a page), then of the sweep one sent reply
   * asks for, as [status filter, first page?]: 3.0 walks its pending list (which hands the tokens
   * out, so it is empty the second time) and its processing list; 3.2 its one queue, 11 long then.
   */
  twelveSweptTwice: { first: ReadonlyArray<Page>; again: ReadonlyArray<Page> };
  /** How long Concur keeps a request out of its list after a CRRET: 3.0 lists it again at once. */
  crretAwayMs: number;
  /**
   * What a read-back's GET by id leaves a CRRET'd request as: 3.0 hands its new token out
   * (Processing, the seed's Example 4); 3.2 has popped it, and nothing is handed out of the queue.
   */
  crretThenReadBack: SandboxStatus;
  /** The variables that make the relay speak this version to the sandbox (next to its base URL and credentials). */
  env: Readonly<Record<string, string>>;
  /**
   * The relay's own credential for its calls, beside CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET:
   * 3.0 the static token; 3.2 nothing more (those two alone: the client-credentials grant).
   */
  credential: (sb: RunningSandbox) => Record<string, string>;
  /** The sandbox's request ids: 3.0's 28 characters, 3.2's GUIDs. */
  ids: 'legacy' | 'guid';
}

type Page = readonly [status: string | undefined, firstPage: boolean];

const FAILS = { CRSUC: 'Connected', CRPA1: 'Failed', CRPA2: 'Failed' } as const;

export const VERSIONS: readonly VersionCase[] = [
  {
    version: '3.0',
    resource: '/api/v3.0/common/connectionrequests',
    authScheme: 'OAuth',
    exchange: 'legacy',
    travellerScheme: 'OAuth',
    instanceUrl: (origin) => `${origin}/`,
    tokenLifetimeMs: REQUEST_TOKEN_LIFETIME_MS['3.0'],
    quirks: { requestTokenLifetime: '15m' },
    crretLimit: RETRY_LIMITS['3.0'].CRRET,
    after: { ...FAILS, CREU1: 'Failed', CREU2: 'Failed', CREU3: 'Failed', CRRET: 'Pending' },
    listedAs: 'Processing',
    twelveSweptTwice: {
      first: [['Pending', true], ['Pending', false], ['Processing', true], ['Processing', false]],
      again: [['Pending', true], ['Processing', true], ['Processing', false]],
    },
    crretAwayMs: 0,
    crretThenReadBack: 'Processing',
    env: { CONCUR_API_VERSION: '3.0' },
    credential: (sb) => ({ CONCUR_ACCESS_TOKEN: sb.accessToken }),
    ids: 'legacy',
  },
  {
    version: '3.2',
    resource: '/api/v3.2/common/connectionrequests',
    authScheme: 'Bearer',
    exchange: 'password',
    travellerScheme: 'Bearer',
    instanceUrl: (origin) => origin,
    tokenLifetimeMs: REQUEST_TOKEN_LIFETIME_MS['3.2'],
    quirks: { requestTokenLifetime: '24h' },
    crretLimit: RETRY_LIMITS['3.2'].CRRET,
    after: { ...FAILS, CREU1: 'Pending', CREU2: 'Pending', CREU3: 'Pending', CRRET: 'Pending' },
    listedAs: 'Pending',
    // Read two pages ahead: the second page's answer ends the queue, the call for a third finds nothing.
    twelveSweptTwice: {
      first: [[undefined, true], [undefined, false], [undefined, false]],
      again: [[undefined, true], [undefined, false], [undefined, false]],
    },
    crretAwayMs: REQUEUE_AFTER_MS.CRRET,
    crretThenReadBack: 'Pending',
    env: { CONCUR_API_VERSION: '3.2' },
    credential: () => ({}),
    ids: 'guid',
  },
];

/**
 * versionWorld for a case of the table, plus what the tests build on it: the version's client
 * (with options), its exchange, and the PUTs Concur received for a request on either path.
 */
export function worldOf(v: VersionCase, options: { random: number; quirks?: Record<string, unknown> }, use: (world: WorkerWorld) => void) {
  let sb: RunningSandbox | undefined;
  // The sandbox keeps request tokens as long as the relay takes them to live, as in sandbox mode.
  const kit = versionWorld(v.version, { ...options, quirks: { ...v.quirks, ...options.quirks } }, (world) => {
    sb = world.sb;
    use(world);
  });
  const the = (): RunningSandbox => {
    if (sb === undefined) throw new Error('only inside a test');
    return sb;
  };
  return {
    ...kit,
    client: (more: Omit<Parameters<typeof clientFor>[1] & object, 'version'> = {}) => clientFor(the(), { version: v.version, ...more }),
    exchange: () => exchangeFor(the(), v.exchange),
    /** PUTs for `id` in order, a fault's answers included (they never reached the route, only their path names the request). */
    putsOf: async (id: string): Promise<CallRecord[]> => (await calls(the())).filter((call) => call.route === 'put' && call.path === `${v.resource}/${encodeURIComponent(id)}`),
  };
}
export type VersionWorld = ReturnType<typeof worldOf>;
