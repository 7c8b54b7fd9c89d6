import type { Logger } from '../base/log.js';
import type { Metrics } from '../base/metrics.js';
import type { ConcurClient } from '../concur/client.js';
import { ConcurError } from '../concur/errors.js';
import type { ConcurStatus, RelayState, Requests } from '../store/index.js';
import { backoffDelay } from '../workers/backoff.js';
import { createWorkerLoop, iso, type PassSignal } from '../workers/loop.js';
import { positive, quietly, whole } from '../workers/options.js';
import { INTERNAL_ERROR_MESSAGE, judge, lastErrorOf, type SweepErrorKind } from './judge.js';
import { walkPages } from './sweep.js';
import type { ApiVersion } from '../../shared/status.js';

/**
 * The poller: Concur only offers polling, so every `intervalMs` it sweeps the whole list (each
 * status, every page, following NextPage to the end) into the store, which works out what is new
 * or changed and writes the request.created / request.updated events in the same transaction.
 *
 * - Pages are saved as they arrive, several to a transaction while Concur answers quickly (at most
 *   `groupRecords`, and never later than `groupWaitMs` after they came): 10,000 requests never sit
 *   in memory at once, and a sweep that fails or stops half-way keeps what it read. The client
 *   asks for the next page before this one is saved, so storing overlaps Concur's work.
 * - Every sweep starts from the first page (NextPage is opaque and only good within one sweep; in
 *   v3.2 a PUT pops the request from Concur's queue, so offsets go stale once replies are sent).
 *   `requestResweep()` (the outbox, after a 204) starts another sweep as soon as the current one ends.
 * - It never dies: every failure is caught, written to the summary (`concurStatus`) and retried.
 *   429/503/timeouts back off exponentially with jitter (see backoff.ts), never sooner than
 *   Concur's Retry-After; other failures are retried at the normal interval.
 * - Sweeps never overlap; timers are unref'd, so a poller alone does not keep the process alive.
 * - Logs carry request ids and counts, never a request token or an access token.
 */

export type PollerLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface PollerOptions {
  /** `version` (the client's API version) picks the default `statuses`; without it, 3.0's. */
  client: Pick<ConcurClient, 'pages'> & Partial<Pick<ConcurClient, 'version'>>;
  store: { requests: Pick<Requests, 'upsertFromConcur'>; state: Pick<RelayState, 'updateConcurStatus'> };
  /** Time between the end of one sweep and the start of the next while Concur is well (POLL_INTERVAL_SECONDS). */
  intervalMs: number;
  logger: PollerLogger;
  metrics: Pick<Metrics, 'recordPoll'>;
  /** Epoch ms; default Date.now. Used for every time written to the store and for the summary's "next try at". */
  now?: () => number;
  /** [0, 1); default Math.random. Jitter for the backoff. */
  random?: () => number;
  /** The status filters to sweep, one after the other. Default: SWEEP_STATUSES of the client's version. */
  statuses?: readonly string[];
  /** The page size asked for (Concur's maximum is 10). Default 10. */
  pageLimit?: number;
  /** Pages are written together up to this many records per transaction. Default 100. */
  groupRecords?: number;
  /** …and a page read waits at most this long for the next one before it is written. Default 20 ms. */
  groupWaitMs?: number;
  /** The backoff ceiling for the first retry after a 429/503/timeout. Default: intervalMs. */
  backoffBaseMs?: number;
  /** The backoff never grows beyond this (a Retry-After may still ask for more). Default: max(intervalMs, 5 min), as Concur's docs say to wait 5 minutes after a 503 or a timeout. */
  backoffMaxMs?: number;
}

export interface SweepResult {
  /** 'stopped': stop() ended the sweep between two pages; nothing was written to the summary. */
  outcome: 'ok' | 'failed' | 'stopped';
  created: number;
  updated: number;
  /** Records read (the same request in two status lists counts twice). */
  seen: number;
  pages: number;
  startedAt: string;
  finishedAt: string;
  /** Set when the sweep failed; `message` is what the summary's lastError now says. */
  error: { kind: SweepErrorKind; message: string } | null;
  /** Failed sweeps in a row, this one included; 0 after a success. */
  consecutiveFailures: number;
  /** The wait before the next sweep as computed after this one: intervalMs, or the backoff. */
  nextDelayMs: number;
}

export interface Poller {
  /** Sweeps now, then every intervalMs (or the backoff). Calling it again does nothing. */
  start(): void;
  /** No more sweeps; ends the sweep in progress after its current page and waits for it (and for any sweepNow() already queued). */
  stop(): Promise<void>;
  /** One full sweep, after the one in progress if any. Never rejects. When started, the schedule continues from its end. */
  sweepNow(): Promise<SweepResult>;
  /**
   * Replies were sent, so Concur's queue (and its offsets) changed: the next sweep starts from the
   * first page as soon as the current one ends (at once when idle). While the poller is backing off
   * after a failure it keeps its schedule; that sweep starts from the first page anyway.
   */
  requestResweep(): void;
  /** When the next sweep is due (epoch ms, on `now`), as scheduled or, when not started, as computed after the last sweep; null before any. */
  readonly nextSweepAt: number | null;
  /** Failed sweeps in a row. */
  readonly consecutiveFailures: number;
  /** Whether a sweep is in progress. */
  readonly sweeping: boolean;
}

/**
 * What a sweep lists, by API version. 3.0: the pending list, and the processing one, because the
 * seed sets a request to Processing once Concur has generated its request token (Example 4), so a
 * request may leave `status=pending` before anyone answered it; both are in the pending group.
 * 3.2 has no status filter: its one list is everything waiting.
 */
export const SWEEP_STATUSES: Readonly<Record<ApiVersion, readonly string[]>> = {
  '3.0': ['Pending', 'Processing'],
  '3.2': ['Pending'],
};
const DEFAULT_PAGE_LIMIT = 10;
const DEFAULT_GROUP_RECORDS = 100;
const DEFAULT_GROUP_WAIT_MS = 20;
const FIVE_MINUTES_MS = 5 * 60 * 1000;

/** The tuning options with their defaults, refused once here when they cannot work. */
function settingsOf(options: PollerOptions) {
  const intervalMs = positive('intervalMs', options.intervalMs);
  const statuses = [...(options.statuses ?? SWEEP_STATUSES[options.client.version ?? '3.0'])];
  if (statuses.length === 0) throw new RangeError('statuses must name at least one status');
  const pageLimit = options.pageLimit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(pageLimit) || pageLimit < 1) throw new RangeError(`pageLimit must be a whole number ≥ 1, not ${pageLimit}`);
  const groupWaitMs = options.groupWaitMs ?? DEFAULT_GROUP_WAIT_MS;
  if (!(groupWaitMs >= 0)) throw new RangeError(`groupWaitMs must be ≥ 0, not ${groupWaitMs}`);
  return {
    intervalMs,
    statuses,
    pageLimit,
    groupRecords: whole('groupRecords', options.groupRecords ?? DEFAULT_GROUP_RECORDS),
    groupWaitMs,
    backoffBaseMs: positive('backoffBaseMs', options.backoffBaseMs ?? intervalMs),
    backoffMaxMs: positive('backoffMaxMs', options.backoffMaxMs ?? Math.max(intervalMs, FIVE_MINUTES_MS)),
  };
}

export function createPoller(options: PollerOptions): Poller {
  const { client, store, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const { intervalMs, backoffBaseMs, backoffMaxMs, ...paging } = settingsOf(options);
  const walk = { client, store, now, ...paging };

  let failures = 0;
  let resweepRequested = false;
  /** The last sweep that ran to an end (ok or failed), and when the next one is due after it. */
  let last: { result: SweepResult; nextAt: number } | null = null;

  const loop = createWorkerLoop<SweepResult>({
    name: 'the poller',
    logger,
    now,
    pass: async (signal) => {
      let result: SweepResult;
      try {
        result = await sweep(signal);
      } catch (error) {
        // sweep() handles its own failures; this is the last line of defence (a logger that throws…).
        result = lastResort(error);
      }
      if (result.outcome !== 'stopped') last = { result, nextAt: now() + result.nextDelayMs };
      return result;
    },
    // A resweep asked for during a sweep that went well starts at once: Concur's queue changed.
    nextDelayMs: () => (last === null ? intervalMs : resweepRequested && last.result.outcome === 'ok' ? 0 : last.result.nextDelayMs),
  });

  async function sweep(signal: PassSignal): Promise<SweepResult> {
    // This sweep starts from the first page: a resweep asked for before now is served by it.
    resweepRequested = false;
    const startedMs = now();
    const { counts, createdIds, updatedIds, cutShort, failure } = await walkPages(walk, signal);
    const finishedMs = now();
    const base = { ...counts, startedAt: iso(startedMs), finishedAt: iso(finishedMs) };

    if (cutShort) {
      metrics.recordPoll();
      logger.info({ ...counts }, 'poll stopped before the end of the list (the relay is stopping)');
      return { ...base, outcome: 'stopped', error: null, consecutiveFailures: failures, nextDelayMs: intervalMs };
    }

    if (failure === null) {
      const recovered = failures > 0;
      failures = 0;
      await writeStatus({ state: 'ok', lastPollAt: base.finishedAt, lastSuccessAt: base.finishedAt, lastError: null });
      metrics.recordPoll();
      const fields = { ...counts, durationMs: finishedMs - startedMs, createdIds, updatedIds };
      if (counts.created > 0 || counts.updated > 0 || recovered) {
        logger.info(fields, recovered ? 'polled Concur (reachable again)' : 'polled Concur');
      } else {
        logger.debug(fields, 'polled Concur: nothing new');
      }
      return { ...base, outcome: 'ok', error: null, consecutiveFailures: 0, nextDelayMs: intervalMs };
    }

    failures++;
    const error = failure.error;
    const judged = judge(error);
    const { retryAfterSeconds } = judged;
    const nextDelayMs = judged.backOff
      ? backoffDelay({ attempt: failures, baseMs: backoffBaseMs, maxMs: backoffMaxMs, retryAfterSeconds, random })
      : intervalMs;
    const lastError = lastErrorOf(judged, finishedMs, nextDelayMs);
    await writeStatus({ state: judged.state, lastPollAt: base.finishedAt, lastError });
    metrics.recordPoll(judged.kind);
    const fields = {
      ...counts,
      kind: judged.kind,
      httpStatus: error instanceof ConcurError ? error.status : undefined,
      concurId: error instanceof ConcurError ? error.concurId : undefined,
      consecutiveFailures: failures,
      nextSweepAt: iso(finishedMs + nextDelayMs),
    };
    if (judged.kind === 'internal') {
      logger.error({ ...fields, err: error }, 'poll of Concur failed with an unexpected error');
    } else {
      logger.warn(fields, `poll of Concur failed: ${error instanceof Error ? error.message : judged.message}`);
    }
    return { ...base, outcome: 'failed', error: { kind: judged.kind, message: lastError }, consecutiveFailures: failures, nextDelayMs };
  }

  /** The summary must tell the truth, but a database that refuses the write must not kill the poller. */
  async function writeStatus(patch: Partial<ConcurStatus>): Promise<void> {
    try {
      await store.state.updateConcurStatus(patch);
    } catch (error) {
      logger.error({ err: error }, 'could not record the state of Concur in the store');
    }
  }

  function lastResort(error: unknown): SweepResult {
    failures++;
    const at = iso(now());
    quietly(() => logger.error({ err: error }, 'poll of Concur failed with an unexpected error'));
    return {
      outcome: 'failed',
      created: 0,
      updated: 0,
      seen: 0,
      pages: 0,
      startedAt: at,
      finishedAt: at,
      error: { kind: 'internal', message: INTERNAL_ERROR_MESSAGE },
      consecutiveFailures: failures,
      nextDelayMs: intervalMs,
    };
  }

  return {
    start: loop.start,

    async stop() {
      last = null;
      await loop.stop();
    },

    async sweepNow() {
      // The pass answers every failure with a result of its own (lastResort), so one always comes back.
      return (await loop.runNow()) ?? lastResort(new Error('a sweep ended without a result'));
    },

    requestResweep() {
      if (!loop.started) return;
      if (loop.running) {
        resweepRequested = true;
        return;
      }
      // A sweep about to begin starts from the first page (kick() adds none then); while backing off, the schedule stands.
      if (failures > 0) return;
      loop.kick();
    },

    get nextSweepAt() {
      return loop.nextWakeAt ?? last?.nextAt ?? null;
    },
    get consecutiveFailures() {
      return failures;
    },
    get sweeping() {
      return loop.running;
    },
  };
}
