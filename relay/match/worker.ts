import type { MatchResult } from '../../shared/match.js';
import type { AutoReply } from '../base/config-shape.js';
import type { Logger } from '../base/log.js';
import type { Metrics } from '../base/metrics.js';
import type { EventLog, MatchDue, Matches, MatchOutcome, Withheld } from '../store/index.js';
import { positive, quietly, whole } from '../workers/options.js';
import { createSlotWorker, type Slots, type SlotWorker } from '../workers/slots.js';
import { askDirectory, type AskResult, type DirectoryTarget } from './directory.js';
import { replyFor, retryAt } from './policy.js';

/**
 * The auto-connect worker: asks the partner's member directory about each new pending request
 * and records its answer, with the reply RELAY_AUTO_REPLY makes of it (policy.ts), in one store
 * transaction (store/matches.ts): a member is connected by a CRSUC asked for by `auto`, which the
 * outbox sends like a person's.
 *
 * - What is still to be asked lives in the store: the row comes with the request's
 *   request.created, so a request that arrived while the relay was down, or whose answer came
 *   just before a crash, is asked (again) after the restart. Asking twice is harmless: a question
 *   changes nothing at the directory.
 * - A call that brings no verdict (a timeout, an error status, an answer that is not a match
 *   answer, an address the SSRF guard refuses, or `unknown`) is recorded as `unknown` with the
 *   reason, and asked again at most `retryDelaysMs.length` times more while the request token has
 *   more than two minutes left; the request waits for a person meanwhile, with the reason shown.
 * - A request with a reply already (a person's) or no longer pending is not asked at all; an
 *   answer that comes after a person's reply is shown but sends nothing.
 * - At most `concurrency` calls in flight, one per request. Logs carry request ids, results and
 *   the directory's origin; never a body, a note from the directory, a token or the secret.
 */

export type MatchWorkerLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface MatchWorkerOptions {
  store: {
    matches: Pick<Matches, 'claimDue' | 'nextDueAt' | 'record' | 'close'>;
    events: Pick<EventLog, 'subscribe'>;
  };
  directory: DirectoryTarget;
  autoReply: AutoReply;
  logger: MatchWorkerLogger;
  metrics?: Pick<Metrics, 'observeDirectoryCall' | 'recordAutoReply'>;
  /** Epoch ms; default Date.now. What is due, retries, the signature's timestamp. */
  now?: () => number;
  /** Calls in flight at once. Default 8. */
  concurrency?: number;
  /** The wait before each further call after one without a verdict. Default 5 s, then 30 s. */
  retryDelaysMs?: readonly number[];
  /** A reply was queued: wake the outbox. Errors it throws are logged and ignored. */
  onReplied?: () => void;
}

/** Asks about what is due (including what a previous process left), then keeps going; `kick` when something may be due. */
export type MatchWorker = SlotWorker;

const DEFAULT_CONCURRENCY = 8;
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [5_000, 30_000];
const MIN_SLEEP_MS = 10;
const LEASE_MARGIN_MS = 60_000;
/** Why the policy's reply was not sent, for the log. */
const WITHHELD: Readonly<Record<Withheld, string>> = {
  answered: 'a person had replied already',
  not_pending: 'it is no longer pending',
  exchange_unavailable: 'CRSUC is refused while the relay cannot exchange request tokens (see the summary); it waits for a person',
};
/** A directory's note is for people; a longer one is cut. */
const MAX_NOTE_LENGTH = 500;

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}

export function createMatchWorker(options: MatchWorkerOptions): MatchWorker {
  const { store, directory, autoReply, logger, metrics, onReplied } = options;
  const now = options.now ?? Date.now;
  const concurrency = whole('concurrency', options.concurrency ?? DEFAULT_CONCURRENCY);
  const retryDelaysMs = (options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS).map((delay) => positive('retryDelaysMs', delay));
  positive('directory.timeoutMs', directory.timeoutMs);
  const endpoint = originOf(directory.url);
  /** How long a claimed request is this relay's: the call's timeout, and time to record its answer. */
  const leaseMs = directory.timeoutMs + LEASE_MARGIN_MS;

  /** What a call comes to: the answer and the reply the policy makes of it, or when to ask again. */
  function outcomeOf(due: MatchDue, asked: AskResult): MatchOutcome {
    const attempts = due.attempts + 1;
    if (!asked.ok) {
      const again = retryAt(attempts, due.requestTokenExpiresAt, now(), retryDelaysMs);
      return { result: 'unknown', note: asked.note, memberId: null, reply: null, ...(again === undefined ? {} : { retryAt: again }) };
    }
    const { result, memberId, note } = asked.answer;
    const again = result === 'unknown' ? retryAt(attempts, due.requestTokenExpiresAt, now(), retryDelaysMs) : undefined;
    return {
      result,
      note: note == null ? null : note.slice(0, MAX_NOTE_LENGTH),
      memberId: memberId ?? null,
      reply: replyFor(result, autoReply),
      ...(again === undefined ? {} : { retryAt: again }),
    };
  }

  async function ask(due: MatchDue): Promise<void> {
    const started = performance.now();
    const asked = await askDirectory(directory, due, now());
    const seconds = (performance.now() - started) / 1000;
    const label: MatchResult | string = asked.ok ? asked.answer.result : asked.failure;
    quietly(() => metrics?.observeDirectoryCall(label, seconds));
    const outcome = outcomeOf(due, asked);
    const recorded = await store.matches.record(due.requestId, outcome);
    const fields = { requestId: due.requestId, directory: endpoint, attempt: due.attempts + 1, result: label, ms: Math.round(seconds * 1000) };
    if (!recorded.recorded) return;
    if (!asked.ok) {
      const next = outcome.retryAt === undefined ? 'left for a person' : `asking again at ${new Date(outcome.retryAt).toISOString()}`;
      quietly(() => logger.warn(fields, `the member directory gave no answer (${asked.note}); ${next}`));
    } else if (recorded.reply !== null) {
      const status = recorded.reply.reply.status;
      quietly(() => metrics?.recordAutoReply(status));
      quietly(() => logger.info({ ...fields, reply: status }, 'the member directory answered; reply queued'));
      try {
        onReplied?.();
      } catch (error) {
        quietly(() => logger.warn({ err: error }, 'could not wake the outbox; the reply goes out on its next look'));
      }
    } else {
      const why = recorded.withheld === null ? '' : `; ${WITHHELD[recorded.withheld]}`;
      const level = recorded.withheld === 'exchange_unavailable' ? 'warn' : 'info';
      quietly(() => logger[level](fields, `the member directory answered; nothing sent${why}`));
    }
  }

  /** Starts calls for due requests while there are free slots (a slot per request). Never rejects. */
  async function fill(at: number, slots: Slots): Promise<void> {
    for (;;) {
      let due: MatchDue[];
      try {
        // Claimed, not just read: another relay on the database would otherwise ask about the same
        // requests. Only as many as there are free slots: a claimed one left waiting would wait out the lease.
        due = await store.matches.claimDue(at, slots.free, leaseMs);
      } catch (error) {
        slots.storeTrouble(error, 'could not read what is due');
        return;
      }
      let closed = 0;
      for (const one of due) {
        if (slots.free <= 0) break;
        if (slots.has(one.requestId)) continue;
        if (one.stale !== null) {
          try {
            await store.matches.close(one.requestId);
          } catch (error) {
            slots.storeTrouble(error, 'could not close a request not worth asking about');
            return;
          }
          closed++;
          continue;
        }
        slots.start(one.requestId, () => ask(one), 'could not record an answer');
      }
      // Requests closed without a call made room for more of what is due.
      if (closed === 0) return;
      at = slots.look();
      if (slots.free <= 0) return;
    }
  }

  return createSlotWorker({
    name: 'the auto-connect worker',
    logger,
    now,
    concurrency,
    minSleepMs: MIN_SLEEP_MS,
    nextDueAt: (at) => store.matches.nextDueAt(at),
    subscribe: (kick) =>
      store.events.subscribe((event) => {
        if (event.type === 'request.created') kick();
      }),
    fill,
  });
}
