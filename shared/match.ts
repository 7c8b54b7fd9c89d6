import * as z from 'zod/mini';
import { IsoTime } from './paging.js';

/**
 * Auto-connect: the relay asks the partner's member directory about each new pending request
 * (a signed POST of MatchRequest) and reads its answer (MatchAnswer). What the directory said is
 * kept on the request (RequestMatch), so that a person who answers instead sees why.
 *
 * - member: the directory knows the traveller (CRSUC);
 * - not_found: no member with that loyalty number (CREU1);
 * - name_mismatch: the loyalty number belongs to someone else (CREU2);
 * - needs_verification: the member must verify the number first (CREU3);
 * - unknown: the directory cannot tell now. The relay also records a call that failed (timeout,
 *   an error status, an answer that is not a MatchAnswer) as `unknown`, with the failure as note.
 */
export const MATCH_RESULTS = ['member', 'not_found', 'name_mismatch', 'needs_verification', 'unknown'] as const;
export const MatchResult = z.enum(MATCH_RESULTS);
export type MatchResult = z.infer<typeof MatchResult>;

/** The traveller as Concur sent the request: names, loyalty number, e-mail addresses (none under API 3.0). Never a token. */
export const MatchRequestData = z.object({
  requestId: z.string(),
  firstName: z.nullable(z.string()),
  middleName: z.nullable(z.string()),
  lastName: z.nullable(z.string()),
  loyaltyNumber: z.nullable(z.string()),
  emailAddresses: z.array(z.string()),
});
export type MatchRequestData = z.infer<typeof MatchRequestData>;

/** The body of each call to the member directory, signed like a webhook (Standard Webhooks). */
export const MatchRequest = z.object({
  type: z.literal('match.request'),
  timestamp: IsoTime,
  data: MatchRequestData,
});
export type MatchRequest = z.infer<typeof MatchRequest>;

/**
 * What the directory answers, with HTTP 200. Fields beyond these are ignored; `memberId` and
 * `note` may be left out (or null).
 */
export const MatchAnswer = z.object({
  result: MatchResult,
  /** The partner's own id of the member: kept on the connection a CRSUC makes. */
  memberId: z.optional(z.nullable(z.string().check(z.minLength(1), z.maxLength(200)))),
  /** For the person who looks at the request: why, in the directory's words. */
  note: z.optional(z.nullable(z.string())),
});
export type MatchAnswer = z.infer<typeof MatchAnswer>;

/** `ConnectionRequest.match`: the directory's last answer about the request, and when it came. */
export const RequestMatch = z.object({
  result: MatchResult,
  note: z.nullable(z.string()),
  at: IsoTime,
});
export type RequestMatch = z.infer<typeof RequestMatch>;

/** RELAY_AUTO_REPLY: what the relay answers Concur by itself after the directory's answer (README, "Auto-connect"). */
export const AUTO_REPLY_POLICIES = ['off', 'connect', 'all'] as const;
export const AutoReplyPolicy = z.enum(AUTO_REPLY_POLICIES);
export type AutoReplyPolicy = z.infer<typeof AutoReplyPolicy>;

/**
 * `Summary.autoConnect`: what auto-connect does on this relay, as configured at its start. With
 * `directory` true the relay asks the member directory about every new pending request and
 * records a `match` on it (`unknown` with a note when the call fails) within the call's timeout,
 * so a client may count a new request without a match or a reply as being handled; with false,
 * nobody is asked and `match` stays null. `policy` is RELAY_AUTO_REPLY (`off` without a directory).
 */
export const AutoConnect = z.object({
  policy: AutoReplyPolicy,
  directory: z.boolean(),
});
export type AutoConnect = z.infer<typeof AutoConnect>;
