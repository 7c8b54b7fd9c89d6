import { backoffDelay } from './backoff.js';
import type { ConcurClient } from './concur/client.js';
import { ConcurError } from './concur/errors.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { OutboxReply, Store } from './store/index.js';
import type { ReplyCode, StatusCode } from '../shared/status.js';
import { positive, quietly, whole } from './worker-options.js';

/**
 * The reply worker. The API writes a reply to the store (state `queued`) before it answers 202;
 * this worker sends it to Concur as a PUT and records what Concur said:
 *
 * - 204 (putStatus resolves) → `sent`; the store moves the request to the reply's group; `onSent`
 *   tells the poller to sweep again from the first page (a PUT changes Concur's queue).
 * - A final answer: 404, or a 4xx Concur will answer the same way every time (400…) → `failed`,
 *   with Concur's own message ("Concur answered 400: …").
 * - Everything else (429, 5xx, timeouts, network errors, 401/403, unreadable answers, a 200 with
 *   an <Error> body) → the attempt is counted and the reply is retried after a backoff with jitter
 *   (never sooner than Retry-After), for as long as it takes: a reply accepted with 202 is never
 *   dropped, only sent or failed.
 *
 * Everything the worker knows lives in the store, so a reply survives a crash or a restart:
 * start() picks up whatever a previous process left queued. Replies to different requests go out
 * concurrently (up to `concurrency`), never two for the same request. Logs carry reply and
 * request ids, never a token.
 */

export type OutboxLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface OutboxOptions {
  /** `get` is used only to confirm a reply whose earlier attempt may have reached Concur (see `confirm`). */
  client: Pick<ConcurClient, 'putStatus' | 'get'>;
  store: Pick<Store, 'dueReplies' | 'nextReplyDueAt' | 'markAttempt' | 'markSent' | 'markFailed'>;
  logger: OutboxLogger;
  metrics: Pick<Metrics, 'recordReplyAttempt'>;
  /** Epoch ms; default Date.now. Decides what is due and when a retry is due. */
  now?: () => number;
  /** [0, 1); default Math.random. Jitter for the backoff. */
  random?: () => number;
  /** The backoff ceiling for the first retry of a reply. Default 1 s. */
  baseDelayMs?: number;
  /** The backoff never grows beyond this (a Retry-After may still ask for more). Default 5 min. */
  maxDelayMs?: number;
  /** PUTs in flight at once, each for a different request. Default 4. */
  concurrency?: number;
  /** Due replies read from the store per pass. Default 20. */
  batchSize?: number;
  /** Called after each reply Concur accepted (204), once it is recorded as sent. Errors it throws are logged and ignored. */
  onSent?: (reply: OutboxReply) => void;
}

export interface Outbox {
  /** Sends what is due now (including replies a previous process left queued), then keeps going. Calling it again does nothing. */
  start(): void;
  /** A reply was queued: send now rather than at the next wake-up. Does nothing unless started. */
  kick(): void;
  /** No new PUTs; waits for the ones in flight and records their outcome. The store can be closed afterwards. */
  stop(): Promise<void>;
  /** Runs passes until nothing is due at `now()` (retries scheduled later are left for later). Works without start(); does nothing after stop(). */
  drain(): Promise<void>;
  /** When the worker will next look at the store on its own (epoch ms, on `now`); null when not started or while a pass runs. */
  readonly nextWakeAt: number | null;
  /** PUTs in flight right now. */
  readonly inFlight: number;
}

const DEFAULT_BASE_DELAY_MS = 1000;
const DEFAULT_MAX_DELAY_MS = 5 * 60 * 1000;
const DEFAULT_CONCURRENCY = 4;
const DEFAULT_BATCH_SIZE = 20;
/** Even with nothing queued the worker looks again this often, in case a reply was queued without kick(). */
const IDLE_CHECK_MS = 30_000;
/** The shortest sleep between passes, so that no store oddity can turn the worker into a busy loop. */
const MIN_SLEEP_MS = 20;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What Concur's own status is after each reply code was applied (a GET may also show the code itself). */
const OUTCOME: Readonly<Record<ReplyCode, readonly StatusCode[]>> = {
  CRSUC: ['CRSUC', 'Connected'],
  CREU1: ['CREU1', 'Failed'],
  CREU2: ['CREU2', 'Failed'],
  CREU3: ['CREU3', 'Failed'],
  CRPA1: ['CRPA1', 'Failed'],
  CRPA2: ['CRPA2', 'Failed'],
  // A CRRET leaves the request Pending with a new token, which a GET cannot tell apart from before.
  CRRET: [],
};

export function createOutbox(options: OutboxOptions): Outbox {
  const { client, store, logger, metrics, onSent } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const baseDelayMs = positive('baseDelayMs', options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS);
  const maxDelayMs = positive('maxDelayMs', options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS);
  const concurrency = whole('concurrency', options.concurrency ?? DEFAULT_CONCURRENCY);
  const batchSize = whole('batchSize', options.batchSize ?? DEFAULT_BATCH_SIZE);

  let started = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let nextWakeAt: number | null = null;
  let pumping: Promise<void> | null = null;
  let again = false;
  /** Request ids with a PUT in flight. */
  const busy = new Set<string>();
  /** Replies Concur accepted whose `sent` the store could not record: recorded again, never re-sent. */
  const acceptedUnrecorded = new Set<number>();
  /** Passes in a row the store failed during; the worker backs off from a failing database too. */
  let storeFailures = 0;
  let storeTrouble = false;

  const iso = (ms: number) => new Date(ms).toISOString();

  function clearTimer(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  }

  /** Starts a pump, or asks the running one to look again before it ends. Never rejects. */
  function pump(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (pumping !== null) {
      again = true;
      return pumping;
    }
    clearTimer();
    nextWakeAt = null;
    pumping = (async () => {
      try {
        do {
          again = false;
          await passesUntilIdle();
        } while (again && !stopped && !storeTrouble);
      } catch (error) {
        storeTrouble = true;
        quietly(() => logger.error({ err: error }, 'the reply worker failed unexpectedly; it will try again'));
      } finally {
        pumping = null;
      }
      if (started && !stopped) sleep();
    })();
    return pumping;
  }

  async function passesUntilIdle(): Promise<void> {
    storeTrouble = false;
    for (;;) {
      if (stopped) return;
      let due: OutboxReply[];
      try {
        due = store.dueReplies(now(), batchSize);
      } catch (error) {
        storeTrouble = true;
        logger.error({ err: error }, 'the reply worker could not read the outbox; it will try again');
        return;
      }
      const seen = new Set<string>();
      const todo = due.filter((reply) => {
        if (busy.has(reply.requestId) || seen.has(reply.requestId)) return false;
        seen.add(reply.requestId);
        return true;
      });
      if (todo.length === 0) return;
      await inParallel(todo);
      // A reply whose outcome the store could not record would be due again at once: back off instead.
      if (storeTrouble) return;
    }
  }

  async function inParallel(replies: OutboxReply[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < replies.length && !stopped) {
        const reply = replies[next++]!;
        if (busy.has(reply.requestId)) continue;
        busy.add(reply.requestId);
        try {
          await deliver(reply);
        } finally {
          busy.delete(reply.requestId);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, replies.length) }, worker));
  }

  async function deliver(reply: OutboxReply): Promise<void> {
    if (acceptedUnrecorded.has(reply.id)) {
      recordSent(reply, 'recorded a reply Concur had already accepted');
      return;
    }
    let failure: unknown;
    try {
      await client.putStatus(reply.requestId, reply.status);
    } catch (error) {
      failure = error;
    }
    if (failure === undefined) {
      recordSent(reply, 'reply sent to Concur');
      return;
    }
    if (isFinal(failure)) {
      // An earlier attempt may have reached Concur without its 204 reaching us (a timeout, a
      // dropped connection); then Concur refuses the repeat. Read the request back before calling it failed.
      if (reply.attempts > 0 && (await confirm(reply))) {
        recordSent(reply, 'reply confirmed: an earlier attempt reached Concur');
        return;
      }
      const message = finalMessage(failure);
      guard(reply, () => store.markFailed(reply.id, message));
      metrics.recordReplyAttempt('failed');
      logger.warn(
        { ...ids(reply), attempts: reply.attempts + 1, httpStatus: failure.status, concurId: failure.concurId },
        `reply failed: ${message}`,
      );
      return;
    }
    const attempts = reply.attempts + 1;
    const concurError = failure instanceof ConcurError ? failure : undefined;
    const delay = Math.max(
      1,
      backoffDelay({
        attempt: attempts,
        baseMs: baseDelayMs,
        maxMs: maxDelayMs,
        retryAfterSeconds: concurError?.retryAfterSeconds,
        random,
      }),
    );
    const nextAttemptAt = now() + delay;
    const said = concurError
      ? concurError.message
      : 'The reply could not be sent because of an internal error in the relay';
    const lastError = `${said.replace(/\.+$/, '')}; next try at ${iso(nextAttemptAt)}`;
    guard(reply, () => store.markAttempt(reply.id, { attempts, nextAttemptAt, lastError }));
    metrics.recordReplyAttempt('retry');
    const fields = {
      ...ids(reply),
      attempts,
      kind: concurError?.kind ?? 'internal',
      httpStatus: concurError?.status,
      concurId: concurError?.concurId,
      nextAttemptAt: iso(nextAttemptAt),
    };
    if (concurError) logger.warn(fields, `reply not sent yet, will retry: ${concurError.message}`);
    else logger.error({ ...fields, err: failure }, 'reply not sent yet (unexpected error), will retry');
  }

  function recordSent(reply: OutboxReply, what: string): void {
    let sent: OutboxReply | undefined;
    try {
      sent = store.markSent(reply.id);
      acceptedUnrecorded.delete(reply.id);
    } catch (error) {
      acceptedUnrecorded.add(reply.id);
      storeTrouble = true;
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

  /** Whether Concur's own status now shows that this reply was applied. */
  async function confirm(reply: OutboxReply): Promise<boolean> {
    const expected = OUTCOME[reply.status];
    if (expected.length === 0) return false;
    try {
      const record = await client.get(reply.requestId);
      return expected.includes(record.status);
    } catch {
      return false;
    }
  }

  function guard(reply: OutboxReply, write: () => unknown): void {
    try {
      write();
    } catch (error) {
      storeTrouble = true;
      logger.error({ ...ids(reply), err: error }, 'the store could not record the outcome of a reply; will try again');
    }
  }

  function sleep(): void {
    clearTimer();
    let delay: number;
    if (storeTrouble) {
      storeFailures++;
      delay = backoffDelay({ attempt: storeFailures, baseMs: baseDelayMs, maxMs: maxDelayMs, random });
    } else {
      storeFailures = 0;
      let next: string | null = null;
      try {
        next = store.nextReplyDueAt();
      } catch {
        storeFailures = 1;
      }
      delay = next === null ? IDLE_CHECK_MS : Math.min(IDLE_CHECK_MS, Date.parse(next) - now());
    }
    delay = Math.min(MAX_TIMER_MS, Math.max(MIN_SLEEP_MS, Number.isFinite(delay) ? delay : IDLE_CHECK_MS));
    nextWakeAt = now() + delay;
    timer = setTimeout(() => {
      timer = undefined;
      void pump();
    }, delay);
    timer.unref();
  }

  return {
    start() {
      if (started) return;
      started = true;
      stopped = false;
      void pump();
    },

    kick() {
      if (!started || stopped) return;
      void pump();
    },

    async stop() {
      started = false;
      stopped = true;
      clearTimer();
      nextWakeAt = null;
      if (pumping !== null) await pumping;
    },

    async drain() {
      // pump() folds a call made while it runs into one more round, so one await is enough.
      await pump();
    },

    get nextWakeAt() {
      return nextWakeAt;
    },
    get inFlight() {
      return busy.size;
    },
  };
}

/**
 * Concur's final answers: 404, and the 4xx it will give again however often it is asked (400 for
 * a request that is already Connected or Failed, a body it refuses…). 401/403 and 429 are other
 * kinds; 408 and 425 are worth another try; a 200 carrying an <Error> ("please retry later") too.
 */
function isFinal(error: unknown): error is ConcurError {
  if (!(error instanceof ConcurError)) return false;
  if (error.kind === 'not_found') return true;
  if (error.kind !== 'concur_error' || error.status === undefined) return false;
  return error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 425;
}

/** "Concur answered 404: Connection request … was not found." — Concur's own words where it gave some. */
function finalMessage(error: ConcurError): string {
  const status = error.status ?? 'with an error';
  const said = error.concurMessage?.trim() ? error.concurMessage.trim() : error.message;
  return `Concur answered ${status}: ${said}`;
}

function ids(reply: OutboxReply) {
  return { replyId: reply.id, requestId: reply.requestId, status: reply.status };
}
