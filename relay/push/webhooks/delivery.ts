import type { Logger } from '../../base/log.js';
import type { Metrics } from '../../base/metrics.js';
import type { Deliveries, EventLog, OutgoingDelivery, Webhooks } from '../../store/index.js';
import { createWorkerLoop, delayUntil } from '../../workers/loop.js';
import { positive, quietly, whole } from '../../workers/options.js';
import { createAttempt } from './attempt.js';
import type { Resolver } from '../../outbound/ssrf.js';

/**
 * The webhook worker (like relay/replies/outbox.ts for replies). The store writes a delivery in the
 * transaction of the event it reports; this worker POSTs what is due and records every attempt
 * (attempt.ts says what one is and what its answer means).
 *
 * Outcomes:
 * - 2xx → succeeded.
 * - 410 Gone → failed, and the webhook is disabled (the endpoint asked for no more), with the
 *   reason visible as `disabledReason`.
 * - anything else (3xx, 4xx, 5xx, no answer, timeout, an address refused by the SSRF guard) →
 *   retried on the Svix schedule (schedule.ts), then failed.
 * - An endpoint whose attempts have failed without a single success for 5 days (`disableAfterMs`)
 *   is disabled, saying since when.
 *
 * At-least-once: the state is all in the store, so a crash between sending and recording means
 * the delivery goes out again after the restart, with the same webhook-id for the receiver to
 * dedupe on. One delivery per endpoint is in flight at a time (up to `concurrency` endpoints at
 * once), so a slow endpoint delays only itself. Logs carry ids, the endpoint's origin (never its
 * path or query, which may carry a receiver's token) and outcomes; never a secret or a body.
 */

export type WebhookWorkerLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface WebhookWorkerOptions {
  store: {
    deliveries: Pick<Deliveries, 'due' | 'nextDueAt' | 'recordAttempt'>;
    webhooks: Pick<Webhooks, 'signingSecrets' | 'disable'>;
    events: Pick<EventLog, 'subscribe'>;
  };
  logger: WebhookWorkerLogger;
  metrics?: Pick<Metrics, 'recordWebhookAttempt'>;
  /** RELAY_WEBHOOK_ALLOW_PRIVATE. */
  allowPrivate: boolean;
  /** Host name resolution for the SSRF check (default: the system resolver). */
  resolve?: Resolver;
  /** Epoch ms; default Date.now. Decides what is due, the schedule, the signature timestamp. */
  now?: () => number;
  /** [0, 1); default Math.random. The ±20 % jitter. */
  random?: () => number;
  /** The deadline of one attempt. Default 15 s. */
  timeoutMs?: number;
  /** Endpoints with an attempt in flight at once. Default 8. */
  concurrency?: number;
  /** Failing without a success for this long disables an endpoint. Default 5 days. */
  disableAfterMs?: number;
}

export interface WebhookWorker {
  /** Sends what is due (including what a previous process left), then keeps going. */
  start(): void;
  /** Something was queued: look now. Does nothing unless started. */
  kick(): void;
  /** No new attempts; waits for those in flight and records them. */
  stop(): Promise<void>;
  /** Sends until nothing is due at `now()` and nothing is in flight. Works without start(). */
  drain(): Promise<void>;
  /** Attempts in flight. */
  readonly inFlight: number;
  /** When the worker will look again on its own (epoch ms on `now`); null when not started. */
  readonly nextWakeAt: number | null;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_CONCURRENCY = 8;
export const DISABLE_AFTER_MS = 5 * 24 * 3_600_000;

const MIN_SLEEP_MS = 10;

export function createWebhookWorker(options: WebhookWorkerOptions): WebhookWorker {
  const { store, logger } = options;
  const now = options.now ?? Date.now;
  const concurrency = whole('concurrency', options.concurrency ?? DEFAULT_CONCURRENCY);
  const attempt = createAttempt({
    store,
    logger,
    metrics: options.metrics,
    now,
    random: options.random ?? Math.random,
    timeoutMs: positive('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    allowPrivate: options.allowPrivate,
    resolve: options.resolve,
    disableAfterMs: positive('disableAfterMs', options.disableAfterMs ?? DISABLE_AFTER_MS),
  });

  let unsubscribe: (() => void) | undefined;
  /** By webhook id: one attempt per endpoint at a time. */
  const inFlight = new Map<string, Promise<void>>();
  /** The time the last pass asked the store what is due (epoch ms). */
  let lookedAt = now();
  const loop = createWorkerLoop({
    name: 'the webhook worker',
    logger,
    now,
    // A pass starts the attempts there are free slots for and returns; each one, once recorded,
    // wakes the loop for the next (those due now but blocked are picked up as attempts finish).
    // The sleep is for what falls due after the pass looked, not after now: a delivery falling due
    // between the two was not sent and would otherwise wait for the idle check (30 s).
    pass: fill,
    nextDelayMs: async () => delayUntil(await store.deliveries.nextDueAt(lookedAt), now()),
    minSleepMs: MIN_SLEEP_MS,
    inFlight: () => inFlight.values(),
  });

  function storeTrouble(error: unknown, what: string): void {
    loop.storeFailed();
    quietly(() => logger.error({ err: error }, `the webhook worker ${what}; it will try again`));
  }

  /** Starts attempts for due deliveries while there are free slots. Never rejects. */
  async function fill(): Promise<void> {
    // With every slot taken, what is due now waits for one: a finished attempt wakes the loop.
    lookedAt = now();
    let free = concurrency - inFlight.size;
    if (free <= 0) return;
    let due: OutgoingDelivery[];
    try {
      // What is in flight comes back (still due, claimed by this relay) and is skipped; asking for
      // more than the free slots past it would claim deliveries other relays could be sending.
      due = await store.deliveries.due(lookedAt, free + inFlight.size);
    } catch (error) {
      storeTrouble(error, 'could not read the due deliveries');
      return;
    }
    for (const delivery of due) {
      if (free <= 0) break;
      if (inFlight.has(delivery.webhookId)) continue;
      free--;
      const running = attempt(delivery)
        .catch((error: unknown) => storeTrouble(error, 'failed unexpectedly in an attempt'))
        .finally(() => {
          inFlight.delete(delivery.webhookId);
          loop.kick();
        });
      inFlight.set(delivery.webhookId, running);
    }
  }

  return {
    start() {
      if (loop.started) return;
      // Every committed event may have queued deliveries; kicks coalesce into one look after the commit.
      unsubscribe = store.events.subscribe(loop.kick);
      loop.start();
    },

    kick: loop.kick,

    async stop() {
      unsubscribe?.();
      unsubscribe = undefined;
      await loop.stop();
    },

    drain: loop.drain,

    get inFlight() {
      return inFlight.size;
    },
    get nextWakeAt() {
      return loop.nextWakeAt;
    },
  };
}
