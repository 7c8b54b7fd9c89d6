import type { Logger } from '../../base/log.js';
import type { Metrics } from '../../base/metrics.js';
import type { Deliveries, EventLog, OutgoingDelivery, Webhooks } from '../../store/index.js';
import { positive, whole } from '../../workers/options.js';
import { createSlotWorker, type SlotWorker } from '../../workers/slots.js';
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

/** Sends what is due (including what a previous process left), then keeps going; `kick` when something was queued. */
export type WebhookWorker = SlotWorker;

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

  return createSlotWorker({
    name: 'the webhook worker',
    logger,
    now,
    concurrency,
    minSleepMs: MIN_SLEEP_MS,
    nextDueAt: (at) => store.deliveries.nextDueAt(at),
    // Every committed event may have queued deliveries; kicks coalesce into one look after the commit.
    subscribe: (kick) => store.events.subscribe(kick),
    // One attempt per endpoint at a time (the slot's key is the webhook id): those due now but
    // blocked are picked up as attempts finish.
    async fill(at, slots) {
      let due: OutgoingDelivery[];
      try {
        // What is in flight comes back (still due, claimed by this relay) and is skipped; asking for
        // more than the free slots past it would claim deliveries other relays could be sending.
        due = await store.deliveries.due(at, slots.free + slots.busy);
      } catch (error) {
        slots.storeTrouble(error, 'could not read the due deliveries');
        return;
      }
      for (const delivery of due) {
        if (slots.free <= 0) break;
        if (slots.has(delivery.webhookId)) continue;
        slots.start(delivery.webhookId, () => attempt(delivery), 'failed unexpectedly in an attempt');
      }
    },
  });
}
