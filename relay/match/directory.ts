import { randomUUID } from 'node:crypto';
import { MatchAnswer, type MatchRequest, type MatchRequestData } from '../../shared/match.js';
import { postMessage, type PostResult } from '../outbound/http.js';
import { signatureHeader } from '../outbound/signature.js';
import type { Resolver } from '../outbound/ssrf.js';

/**
 * One question to the partner's member directory: `POST <RELAY_MATCH_URL>` with a MatchRequest
 * body, signed as the relay signs its webhooks (Standard Webhooks: `webhook-id`,
 * `webhook-timestamp`, `webhook-signature`, outbound/signature.ts), through the same guarded POST
 * (outbound/http.ts: the SSRF guard unless private addresses are allowed, no redirects, one
 * deadline, a capped answer). The answer must be 200 with a MatchAnswer.
 *
 * The body is built field by field from what Concur sent about the traveller, so nothing else of
 * the request (its token above all) can slip into it. Each call has a webhook-id of its own: it is
 * a question, not an event, and a directory that refuses replayed ids must still answer a retry.
 */

export interface DirectoryTarget {
  url: string;
  /** `whsec_…`: RELAY_MATCH_SECRET, or the one made for the sandbox's demo directory. */
  secret: string;
  timeoutMs: number;
  /** RELAY_WEBHOOK_ALLOW_PRIVATE (always for the embedded sandbox's directory). */
  allowPrivate: boolean;
  /** Host name resolution for the SSRF check (default: the system resolver). */
  resolve?: Resolver;
}

/** Why a call brought no answer to go by. */
export type DirectoryFailure = 'timeout' | 'refused' | 'network_error' | 'http_error' | 'malformed';

export type AskResult = { ok: true; answer: MatchAnswer } | { ok: false; failure: DirectoryFailure; note: string };

/** Enough for any answer the schema describes; a longer one is cut, and then is not JSON. */
const MAX_ANSWER_BYTES = 16 * 1024;
const USER_AGENT = 'TripLink-Relay-Match/1';

/** The traveller as the directory is to see them (API 3.0 has no e-mail addresses). */
export interface Traveller {
  requestId: string;
  firstName: string | null;
  middleName: string | null;
  lastName: string | null;
  loyaltyNumber: string | null;
  emailAddresses?: readonly string[];
}

/** The JSON body of a question, at `now` (epoch ms). */
export function questionBody(traveller: Traveller, now: number): string {
  const data: MatchRequestData = {
    requestId: traveller.requestId,
    firstName: traveller.firstName,
    middleName: traveller.middleName,
    lastName: traveller.lastName,
    loyaltyNumber: traveller.loyaltyNumber,
    emailAddresses: [...(traveller.emailAddresses ?? [])],
  };
  const body: MatchRequest = { type: 'match.request', timestamp: new Date(now).toISOString(), data };
  return JSON.stringify(body);
}

function failed(failure: DirectoryFailure, note: string): AskResult {
  return { ok: false, failure, note };
}

/** What an answer is, for the request's note: never the body itself, which the relay does not vouch for. */
function judge(result: PostResult, timeoutMs: number): AskResult {
  if (result.status === null) {
    if (result.timedOut) return failed('timeout', `the member directory did not answer within ${timeoutMs / 1000} s`);
    const error = result.error ?? 'no answer';
    if (error.startsWith('refused:')) return failed('refused', `the member directory was not called: ${error.slice('refused:'.length).trim()}`);
    return failed('network_error', `the member directory could not be reached: ${error}`);
  }
  if (result.status !== 200) {
    const hint = result.status === 401 || result.status === 403 ? ' (it refused the signature? it must check with the same RELAY_MATCH_SECRET)' : '';
    return failed('http_error', `the member directory answered ${result.status}; only 200 with a match answer counts${hint}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(result.body ?? '');
  } catch {
    return failed('malformed', 'the member directory answered 200, but not with JSON');
  }
  const parsed = MatchAnswer.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? 'the answer' : issue.path.join('.');
    return failed('malformed', `the member directory's answer is not a match answer: ${where}: ${issue?.message ?? 'invalid'}`.slice(0, 300));
  }
  return { ok: true, answer: parsed.data };
}

/** Asks about one traveller. Never throws: a failure is an AskResult too. */
export async function askDirectory(target: DirectoryTarget, traveller: Traveller, now: number): Promise<AskResult> {
  const body = questionBody(traveller, now);
  const messageId = `msg_${randomUUID().replaceAll('-', '')}`;
  const timestamp = Math.floor(now / 1000);
  const headers = {
    'Content-Type': 'application/json',
    Accept: 'application/json',
    'User-Agent': USER_AGENT,
    'webhook-id': messageId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatureHeader([target.secret], messageId, timestamp, body),
  };
  const result = await postMessage(target.url, body, headers, {
    timeoutMs: target.timeoutMs,
    allowPrivate: target.allowPrivate,
    resolve: target.resolve,
    maxResponseBytes: MAX_ANSWER_BYTES,
  });
  return judge(result, target.timeoutMs);
}
