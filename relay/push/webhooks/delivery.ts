import type { Logger } from '../../base/log.js';
import type { Metrics } from '../../base/metrics.js';
import type { AttemptOutcome, Deliveries, EventLog, OutgoingDelivery, Webhooks } from '../../store/index.js';
import { postMessage, type PostResult } from './http.js';
import { signatureHeader } from './signature.js';
import type { Resolver } from './ssrf.js';
import { createWorkerLoop, delayUntil, iso } from '../../workers/loop.js';
import { positive, quietly, whole } from '../../workers/options.js';

/**
 * The webhook worker (like relay/replies/outbox.ts for replies). The store writes a delivery in the
 * transaction of the event it reports; this worker POSTs what is due and records every attempt.
 *
 * One attempt: `POST <url>` with the stored body as it is, `Content-Type: application/json` and
 * the Standard Webhooks headers `webhook-id` (the message id, the same on every attempt and
 * resend), `webhook-timestamp` (unix seconds of this attempt) and `webhook-signature` (v1, one
 * per valid secret: during a rotation the old secret signs too). Redirects are not followed, a
 * deadline covers the whole attempt, and the answer's body is kept up to 4 KiB.
 *
 * Outcomes:
 * - 2xx → succeeded.
 * - 410 Gone → failed, and the webhook is disabled (the endpoint asked for no more), with the
 *   reason visible as `disabledReason`.
 * - anything else (3xx, 4xx, 5xx, no answer, timeout, an address refused by the SSRF guard) →
 *   retried on the Svix schedule after the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
 *   10 h, each ±20 % (jitter), then failed. A 429 or 503 with Retry-After waits what it asks,
 *   within [the step, 2 × the step]: never sooner than the schedule, never parked for longer.
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

/** The Svix retry schedule: the waits after the 1st, 2nd, … failed attempt of a chain. */
export const RETRY_SCHEDULE_MS: readonly number[] = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];
export const JITTER = 0.2;
export const DEFAULT_TIMEOUT_MS = 15_000;
export const DEFAULT_CONCURRENCY = 8;
export const DISABLE_AFTER_MS = 5 * 24 * 3_600_000;
export const MAX_RESPONSE_BYTES = 4096;
export const USER_AGENT = 'TripLink-Relay-Webhooks/1';

const MIN_SLEEP_MS = 10;

/** The wait after the `chainAttempt`-th failed attempt (1-based), with jitter; null when the schedule is exhausted. */
export function scheduledDelay(chainAttempt: number, random: () => number = Math.random): number | null {
  const base = RETRY_SCHEDULE_MS[chainAttempt - 1];
  if (base === undefined) return null;
  const r = Math.min(1, Math.max(0, Number.isNaN(random()) ? 0.5 : random()));
  return Math.round(base * (1 + JITTER * (2 * r - 1)));
}

/** Retry-After (delta-seconds or an HTTP-date) in ms from `now`; undefined when absent, unreadable or not in the future. */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d{1,10}$/.test(text)) {
    const ms = Number(text) * 1000;
    return ms > 0 ? ms : undefined;
  }
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return at - now > 0 ? at - now : undefined;
}

/**
 * The wait before the next attempt after a failure, or null when the chain is over: the scheduled
 * step, or for a 429/503 with Retry-After that value clamped to [step, 2 × step].
 */
export function nextDelay(
  chainAttempt: number,
  status: number | null,
  retryAfter: number | undefined,
  random: () => number = Math.random,
): number | null {
  const step = scheduledDelay(chainAttempt, random);
  if (step === null) return null;
  if ((status === 429 || status === 503) && retryAfter !== undefined) return Math.min(2 * step, Math.max(step, retryAfter));
  return step;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}

/** Why an answer is a failure, for the delivery log. */
function failureText(result: PostResult): string {
  if (result.status === null) return result.error ?? 'no answer';
  const status = result.status;
  if (status >= 300 && status < 400) {
    const location = result.headers.location;
    // The query is left out: a receiver may put a token there, and this text goes to the log.
    const where = typeof location === 'string' && location !== '' ? ` to ${location.split(/[?#]/)[0]!.slice(0, 200)}` : '';
    return `the endpoint answered ${status} (a redirect${where}); redirects are not followed: subscribe the final URL`;
  }
  if (status === 410) return 'the endpoint answered 410 Gone: it wants no more messages; the webhook was disabled';
  return `the endpoint answered ${status}; only 2xx counts as delivered`;
}

export function createWebhookWorker(options: WebhookWorkerOptions): WebhookWorker {
  const { store, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const timeoutMs = positive('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const concurrency = whole('concurrency', options.concurrency ?? DEFAULT_CONCURRENCY);
  const disableAfterMs = positive('disableAfterMs', options.disableAfterMs ?? DISABLE_AFTER_MS);

  let unsubscribe: (() => void) | undefined;
  /** By webhook id: one attempt per endpoint at a time. */
  const inFlight = new Map<string, Promise<void>>();
  const loop = createWorkerLoop({
    name: 'the webhook worker',
    logger,
    now,
    // A pass starts the attempts there are free slots for and returns; each one, once recorded,
    // wakes the loop for the next (those due now but blocked are picked up as attempts finish).
    pass: fill,
    nextDelayMs: () => delayUntil(store.deliveries.nextDueAt(now()), now()),
    minSleepMs: MIN_SLEEP_MS,
    inFlight: () => inFlight.values(),
  });

  function storeTrouble(error: unknown, what: string): void {
    loop.storeFailed();
    quietly(() => logger.error({ err: error }, `the webhook worker ${what}; it will try again`));
  }

  /** Starts attempts for due deliveries while there are free slots. Never throws. */
  function fill(): void {
    let free = concurrency - inFlight.size;
    if (free <= 0) return;
    let due: OutgoingDelivery[];
    try {
      due = store.deliveries.due(now(), concurrency + inFlight.size);
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

  async function attempt(delivery: OutgoingDelivery): Promise<void> {
    const startedAt = now();
    const timestamp = Math.floor(startedAt / 1000);
    const secrets = store.webhooks.signingSecrets(delivery.webhookId, startedAt);
    const chainAttempt = delivery.chainAttempts + 1;
    const t0 = performance.now();
    const result: PostResult =
      secrets.length === 0
        ? { status: null, headers: {}, body: null, error: 'the webhook has no signing secret', timedOut: false }
        : await postMessage(
            delivery.url,
            delivery.body,
            {
              'Content-Type': 'application/json',
              'User-Agent': USER_AGENT,
              'webhook-id': delivery.messageId,
              'webhook-timestamp': String(timestamp),
              'webhook-signature': signatureHeader(secrets, delivery.messageId, timestamp, delivery.body),
            },
            { timeoutMs, allowPrivate: options.allowPrivate, resolve: options.resolve, maxResponseBytes: MAX_RESPONSE_BYTES },
          );
    const durationMs = Math.round(performance.now() - t0);
    const status = result.status;
    const succeeded = status !== null && status >= 200 && status < 300;
    const gone = status === 410;

    let outcome: AttemptOutcome;
    let error: string | null = null;
    let lastError: string | null = null;
    let nextAttemptAt: number | undefined;
    if (succeeded) {
      outcome = 'succeeded';
    } else {
      error = failureText(result);
      const delay = gone ? null : nextDelay(chainAttempt, status, retryAfterMs(result.headers['retry-after'], now()), random);
      if (delay === null) {
        outcome = 'failed';
        lastError = gone ? error : `gave up after ${chainAttempt} attempts; the last: ${error}`;
      } else {
        outcome = 'retry';
        nextAttemptAt = now() + delay;
      }
    }

    const recorded = store.deliveries.recordAttempt({
      deliveryId: delivery.id,
      chain: delivery.chain,
      startedAt,
      status,
      durationMs,
      responseBody: result.body,
      error,
      outcome,
      nextAttemptAt,
      lastError: lastError ?? error,
    });
    metrics?.recordWebhookAttempt(outcome);

    const fields = {
      webhookId: delivery.webhookId,
      deliveryId: delivery.id,
      messageId: delivery.messageId,
      type: delivery.type,
      endpoint: originOf(delivery.url),
      attempt: chainAttempt,
      httpStatus: status ?? undefined,
      durationMs,
    };
    if (recorded === undefined) {
      logger.info(fields, 'webhook attempt made for a delivery that no longer exists (its webhook was deleted)');
      return;
    }
    if (outcome === 'succeeded') logger.info(fields, 'webhook delivered');
    else if (outcome === 'retry') logger.warn({ ...fields, nextAttemptAt: iso(nextAttemptAt!) }, `webhook not delivered yet, will retry: ${error}`);
    else logger.warn(fields, `webhook delivery failed: ${lastError}`);

    if (gone) {
      store.webhooks.disable(
        delivery.webhookId,
        `the endpoint answered 410 Gone at ${iso(startedAt)}; enable it again with PATCH {"state":"enabled"} once it accepts messages`,
      );
      logger.warn(fields, 'webhook disabled: the endpoint answered 410 Gone');
    } else if (!succeeded && recorded.failingSince !== null && now() - Date.parse(recorded.failingSince) >= disableAfterMs) {
      const days = Math.round((disableAfterMs / 86_400_000) * 10) / 10;
      store.webhooks.disable(
        delivery.webhookId,
        `every attempt since ${recorded.failingSince} failed (${days} days without a success); enable it again with PATCH {"state":"enabled"} once the endpoint works`,
      );
      logger.warn({ ...fields, failingSince: recorded.failingSince }, 'webhook disabled: failing for too long');
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
