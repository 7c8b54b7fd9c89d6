import type { ExchangeForm } from '../../../relay/concur/exchange.js';
import type { SandboxStatus } from '../../../relay/sandbox/state.js';
import { REQUEUE_AFTER_MS, RETRY_LIMITS, type ApiVersion, type ReplyCode } from '../../../shared/status.js';

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
  /** The CRRETs Concur accepts per request before the next one fails it. */
  crretLimit: number;
  /**
   * What Concur itself holds for a request right after each reply: 3.2's CRRET and CREU* pop it
   * from the queue (Pending again later, with a new token); 3.0's CREU* fail it at once.
   */
  after: Readonly<Record<ReplyCode, SandboxStatus>>;
  /** How long Concur keeps a request out of its list after a CRRET: 3.0 lists it again at once. */
  crretAwayMs: number;
  /**
   * What a read-back's GET by id leaves a CRRET'd request as: 3.0 hands its new token out
   * (Processing, the seed's Example 4); 3.2 has popped it, and nothing is handed out of the queue.
   */
  crretThenReadBack: SandboxStatus;
  /** The variables that make the relay speak this version to the sandbox (next to its base URL and credentials). */
  env: Readonly<Record<string, string>>;
}

const FAILS = { CRSUC: 'Connected', CRPA1: 'Failed', CRPA2: 'Failed' } as const;

export const VERSIONS: readonly VersionCase[] = [
  {
    version: '3.0',
    resource: '/api/v3.0/common/connectionrequests',
    authScheme: 'OAuth',
    exchange: 'legacy',
    crretLimit: RETRY_LIMITS['3.0'].CRRET,
    after: { ...FAILS, CREU1: 'Failed', CREU2: 'Failed', CREU3: 'Failed', CRRET: 'Pending' },
    crretAwayMs: 0,
    crretThenReadBack: 'Processing',
    env: { CONCUR_API_VERSION: '3.0' },
  },
  {
    version: '3.2',
    resource: '/api/v3.2/common/connectionrequests',
    authScheme: 'Bearer',
    exchange: 'password',
    crretLimit: RETRY_LIMITS['3.2'].CRRET,
    after: { ...FAILS, CREU1: 'Pending', CREU2: 'Pending', CREU3: 'Pending', CRRET: 'Pending' },
    crretAwayMs: REQUEUE_AFTER_MS.CRRET,
    crretThenReadBack: 'Pending',
    env: { CONCUR_API_VERSION: '3.2' },
  },
];
