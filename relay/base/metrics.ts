import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Counts, ReplyState } from '../../shared/models.js';

/**
 * The relay's Prometheus metrics, through prom-client. Counters for what only happens in memory
 * (polls, attempts, SSE connections) and latency histograms (Concur calls, API requests) live
 * here; what the store knows (requests by group, replies and deliveries by state) is read from it
 * at scrape time instead of being counted twice. Each relay has a registry of its own, so that
 * several in one process (tests) never mix their numbers.
 */

/** What the scrape reads from the store's parts (structurally: base/ imports nothing of the relay); `deliveries` only where webhooks exist. */
export interface StoreCounts {
  requests: { counts(): Counts | Promise<Counts> };
  replies: { counts(): Record<ReplyState, number> | Promise<Record<ReplyState, number>> };
  deliveries?: { counts(): Record<string, number> | Promise<Record<string, number>> };
}

/** One call to Concur: which kind, how it ended (an HTTP status, or why there was none: timeout…), how long it took. */
export interface ConcurCallObservation {
  operation: 'list' | 'get' | 'put' | 'token';
  outcome: number | string;
  seconds: number;
}

export interface MetricsOptions {
  /**
   * Node's process metrics (memory, CPU, event-loop lag, GC, handles) in the same registry. The
   * relay process turns them on; apps built by tests leave them off (they watch the process, not
   * one app, and each set keeps observers for the life of the process).
   */
  processMetrics?: boolean;
}

/** Latency buckets in seconds: API answers take about a millisecond, Concur calls up to its 60 s. */
const API_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const CONCUR_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** A member directory answers in milliseconds, or not within RELAY_MATCH_TIMEOUT_SECONDS (at most 60). */
const DIRECTORY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Metrics {
  readonly registry = new Registry();
  #store: StoreCounts | undefined;
  #sseClients = 0;

  readonly #pollerLeader = new Gauge({
    name: 'triplink_poller_leader',
    help: 'Whether this relay is the one polling Concur (1) or another relay on its database is (0).',
    registers: [this.registry],
  });
  readonly #polls = new Counter({ name: 'triplink_polls_total', help: 'Polls of Concur started.', registers: [this.registry] });
  readonly #pollErrors = new Counter({
    name: 'triplink_poll_errors_total',
    help: 'Polls of Concur that failed, by error kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly #replyAttempts = new Counter({
    name: 'triplink_reply_attempts_total',
    help: 'PUTs of status replies to Concur, by outcome.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly #webhookAttempts = new Counter({
    name: 'triplink_webhook_attempts_total',
    help: 'Webhook delivery attempts, by outcome (retry: failed, will be tried again).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly #authFailures = new Counter({
    name: 'triplink_auth_failures_total',
    help: 'Requests under /api/v1 refused for their API key, by reason (missing, unknown, revoked).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly #authThrottled = new Counter({
    name: 'triplink_auth_throttled_total',
    help: 'Wrong API keys answered 429: more than 20 from one address within a minute.',
    registers: [this.registry],
  });
  readonly #concurCalls = new Histogram({
    name: 'triplink_concur_request_duration_seconds',
    help: 'Calls to Concur, by operation and outcome (HTTP status, or why there was none).',
    labelNames: ['operation', 'outcome'] as const,
    buckets: CONCUR_BUCKETS,
    registers: [this.registry],
  });
  readonly #directoryCalls = new Histogram({
    name: 'triplink_directory_call_duration_seconds',
    help: "Calls to the partner's member directory (auto-connect), by result: its answer, or why there was none (timeout, refused, network_error, http_error, malformed).",
    labelNames: ['result'] as const,
    buckets: DIRECTORY_BUCKETS,
    registers: [this.registry],
  });
  readonly #autoReplies = new Counter({
    name: 'triplink_auto_replies_total',
    help: "Replies auto-connect queued after the member directory's answer, by status.",
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly #apiRequests = new Histogram({
    name: 'triplink_http_request_duration_seconds',
    help: "The relay's own API: time to the response head, by route pattern, method and status.",
    labelNames: ['method', 'route', 'status'] as const,
    buckets: API_BUCKETS,
    registers: [this.registry],
  });

  constructor(options: MetricsOptions = {}) {
    const metrics = this;
    new Gauge({
      name: 'triplink_sse_clients',
      help: 'Connected server-sent-event clients.',
      registers: [this.registry],
      collect() {
        this.set(metrics.#sseClients);
      },
    });
    type Read = (store: StoreCounts) => Record<string, number> | Promise<Record<string, number>> | undefined;
    // prom-client awaits a collect that answers a promise, so the counts may come from a store that answers with one.
    const fromStore = (name: string, help: string, label: string, read: Read) =>
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers: [this.registry],
        async collect() {
          const store = metrics.#store;
          const counts = store === undefined ? undefined : await read(store);
          this.reset();
          for (const [value, n] of Object.entries(counts ?? {})) this.set({ [label]: value }, n);
        },
      });
    fromStore('triplink_replies', 'Status replies by state.', 'state', (store) => store.replies.counts());
    fromStore('triplink_requests', 'Connection requests by group.', 'group', (store) => store.requests.counts());
    fromStore(
      'triplink_webhook_deliveries',
      'Webhook deliveries by state (failed ones stay until recovered or pruned after 30 days).',
      'state',
      (store) => store.deliveries?.counts(),
    );
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** SSE clients connected now; the events route counts them up and down. */
  get sseClients(): number {
    return this.#sseClients;
  }
  set sseClients(value: number) {
    this.#sseClients = value;
  }

  /** A poll started; `error`: the kind of failure it ended with (a ConcurError kind, or internal). */
  /** Leadership among the relays of one database changed (always 1 alone on SQLite). */
  setPollerLeader(leader: boolean): void {
    this.#pollerLeader.set(leader ? 1 : 0);
  }

  recordPoll(error?: string): void {
    this.#polls.inc();
    if (error) this.#pollErrors.inc({ kind: error });
  }

  recordReplyAttempt(outcome: 'sent' | 'failed' | 'retry'): void {
    this.#replyAttempts.inc({ outcome });
  }

  recordWebhookAttempt(outcome: 'succeeded' | 'failed' | 'retry'): void {
    this.#webhookAttempts.inc({ outcome });
  }

  /** A request under /api/v1 refused for its key: none sent, one the relay does not know, or a revoked one. */
  recordAuthFailure(reason: 'missing' | 'unknown' | 'revoked'): void {
    this.#authFailures.inc({ reason });
  }

  /** A wrong key answered 429 rather than 401. */
  recordAuthThrottled(): void {
    this.#authThrottled.inc();
  }

  observeConcurCall({ operation, outcome, seconds }: ConcurCallObservation): void {
    this.#concurCalls.observe({ operation, outcome: String(outcome) }, seconds);
  }

  /** One call to the member directory: its answer's result, or the kind of failure. */
  observeDirectoryCall(result: string, seconds: number): void {
    this.#directoryCalls.observe({ result }, seconds);
  }

  /** A reply auto-connect queued. */
  recordAutoReply(status: string): void {
    this.#autoReplies.inc({ status });
  }

  observeApiRequest(method: string, route: string, status: number, seconds: number): void {
    this.#apiRequests.observe({ method, route, status: String(status) }, seconds);
  }

  /** Prometheus text exposition format 0.0.4, with the store's counts as they are now. */
  render(store: StoreCounts): Promise<string> {
    // Kept, not cleared after: the gauges read it while the registry collects, and a relay has one store.
    this.#store = store;
    return this.registry.metrics();
  }
}
