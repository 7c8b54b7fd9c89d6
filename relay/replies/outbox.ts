import { backoffDelay } from '../workers/backoff.js';
import type { ConcurClient } from '../concur/client.js';
import type { Logger } from '../base/log.js';
import type { Metrics } from '../base/metrics.js';
import { createDelivery } from './delivery.js';
import { createExchangeStep, type ExchangeSetup, type ExchangeStepDeps } from './exchange-step.js';
import type { OutboxReply, Replies } from '../store/index.js';
import { createWorkerLoop, delayUntil, type PassSignal } from '../workers/loop.js';
import { positive, whole } from '../workers/options.js';

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
 *   dropped, only sent or failed. An answer that may have come after Concur applied the PUT (a
 *   timeout, a cut connection, a 5xx other than 503) leaves the reply in doubt, below.
 *
 * A reply is sent once. That the attempt starts is in the store before the PUT goes out; a reply
 * whose attempt has no stored outcome is in doubt (see readback.ts), and before anything is
 * sent again the worker reads the request back from Concur: if Concur shows the reply it is
 * recorded as sent without a second PUT; only if Concur shows it was not applied (or cannot tell)
 * is it PUT again. A read-back that fails is retried with the same backoff, never replaced by a
 * blind PUT. No PUT goes out when the store cannot record that it starts.
 *
 * A CRSUC starts with the exchange of its request token for the traveller's tokens, stored before
 * its PUT (exchange-step.ts): it may go by way of a CRRET and wait for the next poll's token.
 *
 * Everything the worker knows lives in the store, so a reply survives a crash or a restart:
 * start() picks up whatever a previous process left queued. Replies to different requests go out
 * concurrently (up to `concurrency`), never two for the same request. Several relays on one
 * database share the outbox: `due` claims what it hands this relay, and a reply another relay has
 * taken over is left to it (store/reply-claims.ts). Logs carry reply and request ids, never a token.
 */

export type OutboxLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface OutboxOptions {
  /** `get` reads back a reply in doubt (an attempt whose outcome was never stored). */
  client: Pick<ConcurClient, 'putStatus' | 'get'>;
  /** How a CRSUC's request token is exchanged first (exchange-step.ts); null: without partner credentials a CRSUC fails, unsent. */
  exchange: ExchangeSetup | null;
  store: ExchangeStepDeps['store'] & {
    replies: Pick<Replies, 'due' | 'nextDueAt' | 'markAttemptStarted' | 'markAttempt' | 'markSent' | 'markFailed'>;
  };
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
  /** Called after each reply recorded as sent (Concur answered 204, or a read-back showed it applied). Errors it throws are logged and ignored. */
  onSent?: (reply: OutboxReply) => void;
}

export interface Outbox {
  /** Sends what is due now (including replies a previous process left queued), then keeps going. Calling it again does nothing. */
  start(): void;
  /** A reply was queued: send now rather than at the next wake-up (after a store failure: once it is waited out). Does nothing unless started. */
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
/** The shortest sleep between passes, so that no store oddity can turn the worker into a busy loop. */
const MIN_SLEEP_MS = 20;

export function createOutbox(options: OutboxOptions): Outbox {
  const { client, store, logger, metrics, onSent } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const baseDelayMs = positive('baseDelayMs', options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS);
  const maxDelayMs = positive('maxDelayMs', options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS);
  const concurrency = whole('concurrency', options.concurrency ?? DEFAULT_CONCURRENCY);
  const batchSize = whole('batchSize', options.batchSize ?? DEFAULT_BATCH_SIZE);

  /** Request ids with a PUT in flight. */
  const busy = new Set<string>();
  const loop = createWorkerLoop({
    name: 'the reply worker',
    logger,
    now,
    pass: passesUntilIdle,
    // Even with nothing queued it looks again now and then, in case a reply was queued without kick().
    nextDelayMs: async () => delayUntil(await store.replies.nextDueAt(), now()),
    minSleepMs: MIN_SLEEP_MS,
    // The worker backs off from a failing database as from a failing Concur.
    backoffMs: (failures) => backoffDelay({ attempt: failures, baseMs: baseDelayMs, maxMs: maxDelayMs, random }),
  });
  const deliver = createDelivery({
    client,
    store,
    logger,
    metrics,
    now,
    random,
    baseDelayMs,
    maxDelayMs,
    onSent,
    storeFailed: loop.storeFailed,
  });
  const exchangeFirst = createExchangeStep({
    exchange: options.exchange,
    store,
    logger,
    now,
    random,
    baseDelayMs,
    maxDelayMs,
    storeFailed: loop.storeFailed,
  });

  /** Sends what is due, batch after batch, until nothing is (or the store fails, or the worker stops). */
  async function passesUntilIdle(signal: PassSignal): Promise<void> {
    for (;;) {
      if (signal.stopping) return;
      let due: OutboxReply[];
      try {
        due = await store.replies.due(now(), batchSize);
      } catch (error) {
        loop.storeFailed();
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
      await inParallel(todo, signal);
      // A reply whose outcome the store could not record would be due again at once: back off instead.
      if (loop.backingOff) return;
    }
  }

  async function inParallel(replies: OutboxReply[], signal: PassSignal): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < replies.length && !signal.stopping) {
        const reply = replies[next++]!;
        if (busy.has(reply.requestId)) continue;
        busy.add(reply.requestId);
        try {
          const ready = await exchangeFirst(reply);
          if (ready !== undefined) await deliver(ready);
        } finally {
          busy.delete(reply.requestId);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, replies.length) }, worker));
  }

  return {
    start: loop.start,
    kick: loop.kick,
    stop: loop.stop,
    drain: loop.drain,
    get nextWakeAt() {
      return loop.nextWakeAt;
    },
    get inFlight() {
      return busy.size;
    },
  };
}
