import type { Logger } from '../../base/log.js';
import type { Metrics } from '../../base/metrics.js';
import type { AttemptOutcome, Deliveries, OutgoingDelivery, Webhooks } from '../../store/index.js';
import { iso } from '../../workers/loop.js';
import { postMessage, type PostResult } from '../../outbound/http.js';
import { nextDelay, retryAfterMs } from './schedule.js';
import { signatureHeader } from '../../outbound/signature.js';
import type { Resolver } from '../../outbound/ssrf.js';

/**
 * One attempt at a webhook delivery: `POST <url>` with the stored body as it is,
 * `Content-Type: application/json` and the Standard Webhooks headers `webhook-id` (the message
 * id, the same on every attempt and resend), `webhook-timestamp` (unix seconds of this attempt)
 * and `webhook-signature` (v1, one per valid secret: during a rotation the old secret signs too).
 * Redirects are not followed, a deadline covers the whole attempt, and the answer's body is kept
 * up to 4 KiB. Then the outcome is recorded (schedule.ts says when a failure is tried again), and
 * an endpoint that answered 410 Gone, or has failed without a success for `disableAfterMs`, is
 * disabled, saying why.
 */

const MAX_RESPONSE_BYTES = 4096;
const USER_AGENT = 'TripLink-Relay-Webhooks/1';

export interface AttemptDeps {
  store: {
    deliveries: Pick<Deliveries, 'recordAttempt'>;
    webhooks: Pick<Webhooks, 'signingSecrets' | 'disable'>;
  };
  logger: Pick<Logger, 'info' | 'warn'>;
  metrics?: Pick<Metrics, 'recordWebhookAttempt'>;
  now: () => number;
  random: () => number;
  timeoutMs: number;
  allowPrivate: boolean;
  resolve?: Resolver;
  disableAfterMs: number;
}

/** What an answer means for the delivery. */
interface Judged {
  outcome: AttemptOutcome;
  /** What went wrong with this attempt (null on success). */
  error: string | null;
  /** The delivery's lastError when the chain is over (e.g. "gave up after 8 attempts: …"). */
  lastError: string | null;
  nextAttemptAt?: number;
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

function succeeded(status: number | null): boolean {
  return status !== null && status >= 200 && status < 300;
}

/** Makes the function that makes one attempt. It throws only when the store does. */
export function createAttempt(deps: AttemptDeps): (delivery: OutgoingDelivery) => Promise<void> {
  const { store, logger, metrics, now, random } = deps;

  async function post(delivery: OutgoingDelivery, startedAt: number): Promise<PostResult> {
    const timestamp = Math.floor(startedAt / 1000);
    const secrets = await store.webhooks.signingSecrets(delivery.webhookId, startedAt);
    if (secrets.length === 0) return { status: null, headers: {}, body: null, error: 'the webhook has no signing secret', timedOut: false };
    const headers = {
      'Content-Type': 'application/json',
      'User-Agent': USER_AGENT,
      'webhook-id': delivery.messageId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureHeader(secrets, delivery.messageId, timestamp, delivery.body),
    };
    const limits = { timeoutMs: deps.timeoutMs, allowPrivate: deps.allowPrivate, resolve: deps.resolve, maxResponseBytes: MAX_RESPONSE_BYTES };
    return postMessage(delivery.url, delivery.body, headers, limits);
  }

  function judge(result: PostResult, chainAttempt: number): Judged {
    if (succeeded(result.status)) return { outcome: 'succeeded', error: null, lastError: null };
    const error = failureText(result);
    const gone = result.status === 410;
    const delay = gone ? null : nextDelay(chainAttempt, result.status, retryAfterMs(result.headers['retry-after'], now()), random);
    if (delay !== null) return { outcome: 'retry', error, lastError: null, nextAttemptAt: now() + delay };
    return { outcome: 'failed', error, lastError: gone ? error : `gave up after ${chainAttempt} attempts; the last: ${error}` };
  }

  /** A 410, or failures without a success for too long: no more messages to this endpoint. */
  async function disableIfDone(delivery: OutgoingDelivery, status: number | null, startedAt: number, failingSince: string | null, fields: object): Promise<void> {
    if (status === 410) {
      await store.webhooks.disable(
        delivery.webhookId,
        `the endpoint answered 410 Gone at ${iso(startedAt)}; enable it again with PATCH {"state":"enabled"} once it accepts messages`,
      );
      logger.warn(fields, 'webhook disabled: the endpoint answered 410 Gone');
    } else if (!succeeded(status) && failingSince !== null && now() - Date.parse(failingSince) >= deps.disableAfterMs) {
      const days = Math.round((deps.disableAfterMs / 86_400_000) * 10) / 10;
      await store.webhooks.disable(
        delivery.webhookId,
        `every attempt since ${failingSince} failed (${days} days without a success); enable it again with PATCH {"state":"enabled"} once the endpoint works`,
      );
      logger.warn({ ...fields, failingSince }, 'webhook disabled: failing for too long');
    }
  }

  return async (delivery) => {
    const startedAt = now();
    const chainAttempt = delivery.chainAttempts + 1;
    const t0 = performance.now();
    const result = await post(delivery, startedAt);
    const durationMs = Math.round(performance.now() - t0);
    const { outcome, error, lastError, nextAttemptAt } = judge(result, chainAttempt);
    const recorded = await store.deliveries.recordAttempt({
      deliveryId: delivery.id,
      chain: delivery.chain,
      startedAt,
      status: result.status,
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
      httpStatus: result.status ?? undefined,
      durationMs,
    };
    if (recorded === undefined) {
      logger.info(fields, 'webhook attempt made for a delivery that no longer exists (its webhook was deleted)');
      return;
    }
    if (outcome === 'succeeded') logger.info(fields, 'webhook delivered');
    else if (nextAttemptAt !== undefined) logger.warn({ ...fields, nextAttemptAt: iso(nextAttemptAt) }, `webhook not delivered yet, will retry: ${error}`);
    else logger.warn(fields, `webhook delivery failed: ${lastError}`);
    await disableIfDone(delivery, result.status, startedAt, recorded.failingSince, fields);
  };
}
