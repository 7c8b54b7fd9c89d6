// zod/mini, like models.ts: the extension bundles these enums.
import * as z from 'zod/mini';

/**
 * The status catalogue: every status Concur or the partner can put on a connection request.
 * Labels are the short texts the UI shows; descriptions are the seed's own words.
 */
export const STATUS_CODES = [
  'Pending',
  'Processing',
  'CRRET',
  'CRSUC',
  'Connected',
  'CREU1',
  'CREU2',
  'CREU3',
  'CRPA1',
  'CRPA2',
  'Failed',
] as const;

export const StatusCode = z.enum(STATUS_CODES);
export type StatusCode = z.infer<typeof StatusCode>;

export const GROUPS = ['pending', 'failed', 'connected'] as const;
export const Group = z.enum(GROUPS);
export type Group = z.infer<typeof Group>;

interface StatusInfo {
  code: StatusCode;
  label: string;
  description: string;
  group: Group;
  /** Whether a partner may send this code back to Concur in a PUT. */
  isReply: boolean;
}

export const STATUS_CATALOGUE: Readonly<Record<StatusCode, StatusInfo>> = {
  Pending: {
    code: 'Pending',
    label: 'waiting for the partner',
    description: 'Connection requests are pending. Default.',
    group: 'pending',
    isReply: false,
  },
  Processing: {
    code: 'Processing',
    label: 'Concur generated the request token',
    description: 'Connection requests are being processed.',
    group: 'pending',
    isReply: false,
  },
  CRRET: {
    code: 'CRRET',
    label: 'partner asked for a new request token',
    description: 'Retry connection. The partner application is requesting a new request token.',
    group: 'pending',
    isReply: true,
  },
  CRSUC: {
    code: 'CRSUC',
    label: 'connected: partner stored the tokens',
    description:
      'Status provided by partner application to indicate that the connection was successful. The travel partner has successfully recorded the access token, refresh token, and instance URL.',
    group: 'connected',
    isReply: true,
  },
  Connected: {
    code: 'Connected',
    label: "connected (Concur's state)",
    description: "User's travel loyalty program and Concur account are connected.",
    group: 'connected',
    isReply: false,
  },
  CREU1: {
    code: 'CREU1',
    label: 'loyalty number not found',
    description:
      'Loyalty number was not found. The end-user receives an e-mail with this status and what action to take to remedy the problem.',
    group: 'failed',
    isReply: true,
  },
  CREU2: {
    code: 'CREU2',
    label: 'loyalty number does not match the name',
    description:
      "Loyalty number doesn't match the name. The end-user receives an e-mail with this status and what action to take to remedy the problem.",
    group: 'failed',
    isReply: true,
  },
  CREU3: {
    code: 'CREU3',
    label: 'loyalty number needs verification',
    description:
      'Your loyalty number needs verification. The end-user receives an e-mail with this status and what action to take to remedy the problem.',
    group: 'failed',
    isReply: true,
  },
  CRPA1: {
    code: 'CRPA1',
    label: 'request token expired (older than 15 minutes)',
    description:
      'Request token has expired. The request token was issued more than 15 minutes ago and the partner application could not exchange the request token for the access token in time.',
    group: 'failed',
    isReply: true,
  },
  CRPA2: {
    code: 'CRPA2',
    label: 'network error at Concur',
    description:
      'Network error occurred. The partner application could not process the API call due to a Concur network error.',
    group: 'failed',
    isReply: true,
  },
  Failed: {
    code: 'Failed',
    label: "failed (Concur's state)",
    description: 'Connection request is failed.',
    group: 'failed',
    isReply: false,
  },
};

export const REPLY_CODES = STATUS_CODES.filter((code) => STATUS_CATALOGUE[code].isReply) as ReadonlyArray<
  'CRRET' | 'CRSUC' | 'CREU1' | 'CREU2' | 'CREU3' | 'CRPA1' | 'CRPA2'
>;

export const ReplyCode = z.enum(['CRSUC', 'CREU1', 'CREU2', 'CREU3', 'CRPA1', 'CRPA2', 'CRRET'], {
  error: () => `must be one of the reply codes: ${REPLY_CODES.join(', ')}`,
});
export type ReplyCode = z.infer<typeof ReplyCode>;

/** Concur's request tokens live this long (seed: "issued more than 15 minutes ago"). */
export const REQUEST_TOKEN_TTL_MS = 15 * 60 * 1000;
/** Concur allows this many CRRET retries per user (seed, Example 6). */
export const MAX_RETRIES = 5;

/** The versions of Concur's Connection Requests API the relay speaks (CONCUR_API_VERSION). */
export const API_VERSIONS = ['3.0', '3.2'] as const;
export type ApiVersion = (typeof API_VERSIONS)[number];

/**
 * How often a partner may answer a request with each kind of retry, by API version; null where
 * the version has no such retry. 3.0 (the seed, Example 6): five CRRET per user; a CREU code fails
 * the request for good. 3.2 (notes §1b): Concur requeues the request, after an hour for CRRET (at
 * most 48 times) and after a day for CREU1/2/3 (at most 4 times); then it gets an error status and
 * is never returned again.
 */
export interface RetryLimits {
  CRRET: number;
  CREU: number | null;
}
export const RETRY_LIMITS: Readonly<Record<ApiVersion, RetryLimits>> = {
  '3.0': { CRRET: MAX_RETRIES, CREU: null },
  '3.2': { CRRET: 48, CREU: 4 },
};

/**
 * How long the relay takes a request token to live, by API version. Concur's answers carry no
 * expiry, so this is an assumption, made here and nowhere else (the popup's countdown, when an
 * exchange stops being retried, when auto-connect asks again all follow it). 3.0: 15 minutes (the
 * seed's CRPA1 and the legacy exchange). 3.2: 24 hours, as its page says ("generated upon GET and
 * expire after 24h"), although its Swagger still says 15 minutes: the page is the newer text, and
 * the two wrong guesses cost differently. Taking 24 hours when Concur meant 15 minutes costs
 * nothing extra: an exchange Concur refuses for an expired token goes the CRRET way by itself.
 * Taking 15 minutes when Concur meant a day would show working tokens as expired and have people
 * ask for new ones: each CRRET keeps the request out of the queue for an hour and spends one of 48.
 * The relay counts a token's life from when it first saw the token (3.2: handed out on that GET).
 */
export const REQUEST_TOKEN_LIFETIME_MS: Readonly<Record<ApiVersion, number>> = {
  '3.0': REQUEST_TOKEN_TTL_MS,
  '3.2': 24 * 60 * 60 * 1000,
};

/** What a store holds a version's requests to: its retry limits and its request tokens' assumed lifetime. */
export interface VersionRules extends RetryLimits {
  requestTokenLifetimeMs: number;
}

export function versionRules(version: ApiVersion): VersionRules {
  return { ...RETRY_LIMITS[version], requestTokenLifetimeMs: REQUEST_TOKEN_LIFETIME_MS[version] };
}

/** 3.2: how long a request popped by CRRET or by a CREU code stays out of the queue. */
export const REQUEUE_AFTER_MS = { CRRET: 60 * 60 * 1000, CREU: 24 * 60 * 60 * 1000 } as const;

/** The CREU codes: the traveller must fix something (each e-mails them). */
export function isUserErrorCode(code: string): code is 'CREU1' | 'CREU2' | 'CREU3' {
  return code === 'CREU1' || code === 'CREU2' || code === 'CREU3';
}

const byLowerCase = new Map<string, StatusCode>(STATUS_CODES.map((code) => [code.toLowerCase(), code]));
// The Swagger 1.2 file lists "Retry" among the status filter values; it is Concur's name for CRRET.
byLowerCase.set('retry', 'CRRET');

/** Concur spells statuses in any case (`pending`, `Pending`, `PENDING`); this gives the catalogue's spelling. */
export function normaliseStatus(raw: string): StatusCode | undefined {
  return byLowerCase.get(raw.trim().toLowerCase());
}

export function groupOf(code: StatusCode): Group {
  return STATUS_CATALOGUE[code].group;
}

export function isReplyCode(code: string): code is ReplyCode {
  return (REPLY_CODES as readonly string[]).includes(code);
}
