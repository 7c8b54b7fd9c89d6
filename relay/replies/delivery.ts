import type { Logger } from '../base/log.js';
import type { Metrics } from '../base/metrics.js';
import type { ConcurClient } from '../concur/client.js';
import { ConcurError } from '../concur/errors.js';
import type { ConcurRecord } from '../concur/record.js';
import { ReplyClaimedError, type OutboxReply, type Replies, type Requests, type SeenAtConcur } from '../store/index.js';
import { backoffDelay } from '../workers/backoff.js';
import { iso } from '../workers/loop.js';
import { finalMessage, isFinal, judgeReadBack, leavesDoubt } from './readback.js';

/**
 * One reply's way to Concur, for the outbox worker (outbox.ts decides when and how many):
 * in doubt → read back first; record that the attempt starts; PUT; record what Concur said.
 */

export interface DeliveryDeps {
  client: Pick<ConcurClient, 'putStatus' | 'get'>;
  store: {
    replies: Pick<Replies, 'markAttemptStarted' | 'markAttempt' | 'markSent' | 'markFailed'>;
    /** The request token the last sweep stored: whether a read-back's new token is one a list handed out. */
    requests: Pick<Requests, 'getRequestToken'>;
  };
  logger: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  metrics: Pick<Metrics, 'recordReplyAttempt'>;
  now: () => number;
  random: () => number;
  baseDelayMs: number;
  maxDelayMs: number;
  onSent?: (reply: OutboxReply) => void;
  /** The store failed to read or write: the worker backs off instead of picking the reply up at once. */
  storeFailed: () => void;
}

export function createDelivery(deps: DeliveryDeps): (reply: OutboxReply) => Promise<void> {
  const { client, store, logger, metrics, now, random, baseDelayMs, maxDelayMs, onSent, storeFailed } = deps;
  /** Replies Concur accepted whose `sent` the store could not record: recorded again, never re-sent. */
  const acceptedUnrecorded = new Set<number>();

  async function deliver(reply: OutboxReply): Promise<void> {
    if (acceptedUnrecorded.has(reply.id)) {
      await recordSent(reply, 'recorded a reply Concur had already accepted');
      return;
    }
    let seen: SeenAtConcur | undefined;
    if (reply.inDoubt !== undefined) {
      const readBack = await resolveDoubt(reply);
      if (readBack === 'settled') return;
      seen = readBack.seen;
    }
    if (!(await markStarted(deps, reply, seen))) return;
    let failure: unknown;
    try {
      await client.putStatus(reply.requestId, reply.status);
    } catch (error) {
      failure = error;
    }
    if (failure === undefined) {
      await recordSent(reply, 'reply sent to Concur');
      return;
    }
    if (isFinal(failure)) {
      const message = finalMessage(failure);
      await guard(reply, () => store.replies.markFailed(reply.id, message));
      metrics.recordReplyAttempt('failed');
      logger.warn(
        { ...ids(reply), attempts: reply.attempts + 1, httpStatus: failure.status, concurId: failure.concurId },
        `reply failed: ${message}`,
      );
      return;
    }
    await retryLater(reply, failure, leavesDoubt(failure), 'reply not sent yet');
  }

  /**
   * Reads a reply in doubt back from Concur. 'settled': recorded as sent (Concur shows it), a retry
   * of the read-back is scheduled, or the store failed (waited out); otherwise the reply is to be
   * PUT, with what Concur showed.
   */
  async function resolveDoubt(reply: OutboxReply): Promise<'settled' | { seen: SeenAtConcur | undefined }> {
    let record: ConcurRecord;
    try {
      record = await client.get(reply.requestId);
    } catch (error) {
      if (!isFinal(error)) {
        await retryLater(reply, error, true, 'could not read back a reply in doubt yet');
        return 'settled';
      }
      // Concur will not show the request (404…): only the PUT's own answer can settle it.
      logger.warn(
        { ...ids(reply), httpStatus: error.status, concurId: error.concurId },
        `cannot read back a reply in doubt (${finalMessage(error)}); sending it again`,
      );
      return { seen: undefined };
    }
    let sweptToken: string | null | undefined;
    try {
      sweptToken = await store.requests.getRequestToken(reply.requestId);
    } catch (error) {
      storeFailed();
      logger.error({ ...ids(reply), err: error }, 'the store could not read the request token to judge a read-back; nothing was sent');
      return 'settled';
    }
    const verdict = judgeReadBack(reply, record, sweptToken);
    if (verdict.kind === 'applied') {
      await recordSent(reply, `reply confirmed by reading it back: ${verdict.evidence}; not sent again`);
      return 'settled';
    }
    if (verdict.kind === 'unknown') {
      logger.warn(
        { ...ids(reply), concurStatus: record.status },
        `cannot tell whether Concur applied the reply (${verdict.why}); sending it again`,
      );
    } else {
      logger.info({ ...ids(reply), concurStatus: record.status }, 'a reply in doubt had not reached Concur; sending it');
    }
    return { seen: verdict.seen };
  }

  /** Counts a try that did not settle the reply and schedules the next one after a backoff. */
  async function retryLater(reply: OutboxReply, failure: unknown, inDoubt: boolean, what: string): Promise<void> {
    const attempts = reply.attempts + 1;
    const concurError = failure instanceof ConcurError ? failure : undefined;
    const retryAfterSeconds = concurError?.retryAfterSeconds;
    const delay = Math.max(1, backoffDelay({ attempt: attempts, baseMs: baseDelayMs, maxMs: maxDelayMs, retryAfterSeconds, random }));
    const nextAttemptAt = now() + delay;
    const said = concurError?.message ?? 'The reply could not be sent because of an internal error in the relay';
    const lastError = `${said.replace(/\.+$/, '')}; next try at ${iso(nextAttemptAt)}`;
    await guard(reply, () => store.replies.markAttempt(reply.id, { attempts, nextAttemptAt, lastError, inDoubt }));
    metrics.recordReplyAttempt('retry');
    const fields = {
      ...ids(reply),
      attempts,
      inDoubt,
      kind: concurError?.kind ?? 'internal',
      httpStatus: concurError?.status,
      concurId: concurError?.concurId,
      nextAttemptAt: iso(nextAttemptAt),
    };
    if (concurError) logger.warn(fields, `${what}, will retry: ${concurError.message}`);
    else logger.error({ ...fields, err: failure }, `${what} (unexpected error), will retry`);
  }

  async function recordSent(reply: OutboxReply, what: string): Promise<void> {
    let sent: OutboxReply | undefined;
    try {
      sent = await store.replies.markSent(reply.id);
      acceptedUnrecorded.delete(reply.id);
    } catch (error) {
      acceptedUnrecorded.add(reply.id);
      storeFailed();
      logger.error({ ...ids(reply), err: error }, 'Concur accepted the reply but the store could not record it; will record it again');
      return;
    }
    metrics.recordReplyAttempt('sent');
    logger.info({ ...ids(reply), attempts: sent.attempts }, what);
    if (onSent) {
      try {
        onSent(sent);
      } catch (error) {
        logger.error({ ...ids(reply), err: error }, 'onSent failed');
      }
    }
  }

  async function guard(reply: OutboxReply, write: () => unknown): Promise<void> {
    try {
      await write();
    } catch (error) {
      storeFailed();
      logger.error({ ...ids(reply), err: error }, 'the store could not record the outcome of a reply; will try again');
    }
  }

  return deliver;
}

/**
 * Records, before the PUT, that it starts: if the relay dies before the outcome is stored, the
 * reply is in doubt. False when nothing is to be sent: the reply was settled meanwhile (by another
 * worker on the same database), another relay took it over (this relay's claim had lapsed), or the
 * store failed.
 */
async function markStarted(deps: Pick<DeliveryDeps, 'store' | 'logger' | 'storeFailed'>, reply: OutboxReply, seen: SeenAtConcur | undefined): Promise<boolean> {
  try {
    return (await deps.store.replies.markAttemptStarted(reply.id, seen)).state === 'queued';
  } catch (error) {
    if (error instanceof ReplyClaimedError) {
      deps.logger.info(ids(reply), 'another relay is sending this reply; not sent from here');
      return false;
    }
    deps.storeFailed();
    deps.logger.error({ ...ids(reply), err: error }, 'the store could not record that a reply is being sent; nothing was sent');
    return false;
  }
}

function ids(reply: OutboxReply) {
  return { replyId: reply.id, requestId: reply.requestId, status: reply.status };
}
