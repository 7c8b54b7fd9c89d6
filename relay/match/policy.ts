import type { MatchResult } from '../../shared/match.js';
import type { ReplyCode } from '../../shared/status.js';
import type { AutoReply } from '../base/config-shape.js';

/**
 * RELAY_AUTO_REPLY: what the relay answers Concur by itself after the directory's answer.
 * connect: only members (CRSUC); all: the three CREU codes too, each of which e-mails the
 * traveller. Everything else waits for a person, who sees the directory's answer on the request.
 */
const REPLIES: Readonly<Record<AutoReply, Partial<Record<MatchResult, ReplyCode>>>> = {
  off: {},
  connect: { member: 'CRSUC' },
  all: { member: 'CRSUC', not_found: 'CREU1', name_mismatch: 'CREU2', needs_verification: 'CREU3' },
};

export function replyFor(result: MatchResult, autoReply: AutoReply): ReplyCode | null {
  return REPLIES[autoReply][result] ?? null;
}

/** Asking again makes sense only while the token leaves time to connect after the answer. */
export const TOKEN_LEFT_TO_RETRY_MS = 2 * 60_000;

/**
 * When to ask again after a call that brought no verdict (a failure, or `unknown`), the
 * `attempts`-th: after the delay for that attempt, while there is one (so at most
 * `delaysMs.length` times more), and only if the request token then has more than two minutes
 * left. undefined: asked for the last time; the request waits for a person.
 */
export function retryAt(attempts: number, tokenExpiresAt: string | null, now: number, delaysMs: readonly number[]): number | undefined {
  const delay = delaysMs[attempts - 1];
  if (delay === undefined || tokenExpiresAt === null) return undefined;
  const at = now + delay;
  return Date.parse(tokenExpiresAt) - at > TOKEN_LEFT_TO_RETRY_MS ? at : undefined;
}
