import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Which relay works on a reply (migration 10): several relays on one PostgreSQL database share
 * one outbox, and a reply must be PUT by one of them at a time, or Concur gets it twice.
 *
 * `replies.due` claims what it hands out: `claimed_by` names the relay, `lease_until` says until
 * when the others leave the reply alone. Each step that is followed by a call to Concur
 * (markExchanging before the exchange, markAttemptStarted before the PUT) checks the claim is
 * still this relay's (or free, or lapsed), renews the lease, and is refused with ReplyClaimedError
 * otherwise; recording an outcome (a retry scheduled, sent, failed) releases it. A relay that dies
 * leaves its claim until the lease ends; the next claimant then finds the attempt's start
 * recorded, so it reads the reply back before anything is PUT again (exactly once still holds).
 *
 * On SQLite there is one relay, which always holds its own claims; the same columns are written
 * so that both databases behave alike (and a second process on the same file stays safe).
 */
export interface ReplyClaims {
  /** This relay, as `claimed_by` names it. Distinct per relay (per store opened). */
  relayId: string;
  /** How long a claim (or its renewal) keeps the other relays away. */
  leaseMs: number;
}

/** Concur's default deadline per HTTP exchange (relay/concur/client.ts, auth.ts, exchange.ts: 30 s; CONCUR_TIMEOUT_SECONDS). */
const CONCUR_TIMEOUT_MS = 30_000;

/**
 * The lease for a Concur deadline of `concurTimeoutMs`. What must fit in it is the longest step
 * after a renewal: markAttemptStarted, then putStatus, which may take an access token first, the
 * PUT, a renewal of the token after a 401 and the PUT again (4 exchanges, each ended by its
 * deadline in relay/concur/http.ts), and under API 3.2 first its turn behind a list page (one
 * more): 5 deadlines, 2.5 minutes at 30 s. Twice that is the margin, also for clocks of relays that
 * differ by some seconds (each writes its own time). Longer costs only how long a dead relay's
 * replies wait; shorter than a step would let a second relay read back a reply whose PUT is still
 * on its way, and PUT it again.
 */
export function replyLeaseMs(concurTimeoutMs: number = CONCUR_TIMEOUT_MS): number {
  const exchangesPerStep = 5;
  return 2 * exchangesPerStep * concurTimeoutMs;
}

/** Five minutes, for Concur's default 30 s deadline. */
export const DEFAULT_REPLY_LEASE_MS = replyLeaseMs();

/** A name for this relay that no other relay has: readable in the table, unique by its random part. */
export function newRelayId(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/**
 * The one relay on a SQLite file. The same name after a restart: the relay takes up at once what it
 * was working on when it stopped (its claims are its own), as it did before there were claims. On
 * PostgreSQL each store opened is a relay of its own (newRelayId) unless told otherwise: another
 * process with the same name could be alive, so a restarted relay waits out its old leases.
 */
export const SOLE_RELAY_ID = 'sqlite';

/** The claims of a store opened with these options; `relayId` when none is given. */
export function replyClaims(options: { relayId?: string; replyLeaseMs?: number }, relayId: () => string): ReplyClaims {
  const leaseMs = options.replyLeaseMs ?? DEFAULT_REPLY_LEASE_MS;
  if (!Number.isFinite(leaseMs) || leaseMs <= 0) throw new RangeError(`replyLeaseMs must be a positive number of milliseconds, not ${leaseMs}`);
  return { relayId: options.relayId ?? relayId(), leaseMs };
}

/**
 * How long a claim on a webhook delivery (deliveries.ts `due`, migration 12) keeps other relays
 * away: one attempt, the address's resolution and the POST under the webhook worker's deadline
 * (15 s by default, relay/push/webhooks/delivery.ts), then its record. Four deadlines leave the
 * margin for the record and for relays' clocks that differ by some seconds. Shorter than an
 * attempt would let a second relay POST a message the first is still sending.
 */
export const DELIVERY_LEASE_MS = 60_000;

/** The claims this relay makes on webhook deliveries: the same relay, the deliveries' lease. */
export function deliveryClaims(claims: ReplyClaims): ReplyClaims {
  return { relayId: claims.relayId, leaseMs: DELIVERY_LEASE_MS };
}

/**
 * The SQL that releases this relay's claim when an outcome is recorded, `me` being the parameter
 * that names this relay (`@me`, `$5`). Another relay's claim stays: the outcome then came from a
 * relay whose lease had already ended, and the claimant's work must not be opened to a third.
 */
export function releaseClaimSql(me: string): string {
  return `claimed_by = CASE WHEN claimed_by = ${me} THEN NULL ELSE claimed_by END,
           lease_until = CASE WHEN claimed_by = ${me} THEN NULL ELSE lease_until END`;
}

/** SQL: the reply (or delivery) is free for this relay (`me`) at `now`: nobody's, already this relay's, or its lease has ended. */
export function claimableSql(me: string, now: string): string {
  return `(claimed_by IS NULL OR claimed_by = ${me} OR lease_until <= ${now})`;
}
