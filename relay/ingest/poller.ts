import { backoffDelay } from '../workers/backoff.js';
import type { ConcurClient } from '../concur/client.js';
import type { ConcurRecord } from '../concur/record.js';
import { ConcurError, type ConcurErrorKind } from '../concur/errors.js';
import type { Logger } from '../base/log.js';
import type { Metrics } from '../base/metrics.js';
import type { ConcurStatus, RelayState, Requests } from '../store/index.js';
import { positive, whole } from '../workers/options.js';

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
  client: Pick<ConcurClient, 'pages'>;
  store: { requests: Pick<Requests, 'upsertFromConcur'>; state: Pick<RelayState, 'updateConcurStatus'> };
  /** Time between the end of one sweep and the start of the next while Concur is well (POLL_INTERVAL_SECONDS). */
  intervalMs: number;
  logger: PollerLogger;
  metrics: Pick<Metrics, 'recordPoll'>;
  /** Epoch ms; default Date.now. Used for every time written to the store and for the summary's "next try at". */
  now?: () => number;
  /** [0, 1); default Math.random. Jitter for the backoff. */
  random?: () => number;
  /** The status filters to sweep, one after the other. Default ['Pending'], the list Concur gives partners by default. */
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

/** 'internal' = anything that is not a ConcurError (a bug, a database error). */
export type SweepErrorKind = ConcurErrorKind | 'internal';

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

const DEFAULT_STATUSES = ['Pending'] as const;
const DEFAULT_PAGE_LIMIT = 10;
const DEFAULT_GROUP_RECORDS = 100;
const DEFAULT_GROUP_WAIT_MS = 20;
const FIVE_MINUTES_MS = 5 * 60 * 1000;
/** setTimeout's largest delay; longer waits are cut to it (the sweep then simply runs early). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How many created/updated ids one log line lists. */
const LOGGED_IDS = 20;
const INTERNAL_ERROR_MESSAGE = "The relay could not complete a poll of Concur because of an internal error; see the relay's log.";

export function createPoller(options: PollerOptions): Poller {
  const { client, store, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const intervalMs = positive('intervalMs', options.intervalMs);
  const statuses = [...(options.statuses ?? DEFAULT_STATUSES)];
  if (statuses.length === 0) throw new RangeError('statuses must name at least one status');
  const pageLimit = options.pageLimit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(pageLimit) || pageLimit < 1) throw new RangeError(`pageLimit must be a whole number ≥ 1, not ${pageLimit}`);
  const groupRecords = whole('groupRecords', options.groupRecords ?? DEFAULT_GROUP_RECORDS);
  const groupWaitMs = options.groupWaitMs ?? DEFAULT_GROUP_WAIT_MS;
  if (!(groupWaitMs >= 0)) throw new RangeError(`groupWaitMs must be ≥ 0, not ${groupWaitMs}`);
  const backoffBaseMs = positive('backoffBaseMs', options.backoffBaseMs ?? intervalMs);
  const backoffMaxMs = positive('backoffMaxMs', options.backoffMaxMs ?? Math.max(intervalMs, FIVE_MINUTES_MS));

  let started = false;
  let timer: NodeJS.Timeout | undefined;
  let nextSweepAt: number | null = null;
  let failures = 0;
  /** Sweeps run one after the other on this chain; it never rejects. */
  let chain: Promise<unknown> = Promise.resolve();
  /** Sweeps asked for and not yet begun. */
  let queued = 0;
  let current: { aborted: boolean } | null = null;
  let resweepRequested = false;

  const iso = (ms: number) => new Date(ms).toISOString();

  function clearTimer(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  }

  function schedule(delayMs: number): void {
    clearTimer();
    nextSweepAt = now() + delayMs;
    timer = setTimeout(() => {
      timer = undefined;
      void enqueue();
    }, Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
    timer.unref();
  }

  function enqueue(): Promise<SweepResult> {
    clearTimer();
    queued++;
    const run = chain.then(async () => {
      queued--;
      const token = { aborted: false };
      current = token;
      let result: SweepResult;
      try {
        result = await sweep(token);
      } catch (error) {
        // sweep() handles its own failures; this is the last line of defence (a logger that throws…).
        result = lastResort(error);
      } finally {
        current = null;
      }
      try {
        afterSweep(result);
      } catch {
        // scheduling cannot fail in practice; the poller must not die if it does
      }
      return result;
    });
    chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  function afterSweep(result: SweepResult): void {
    if (result.outcome === 'stopped') return;
    nextSweepAt = now() + result.nextDelayMs;
    // Not started: sweepNow() alone. Others queued: the last of them schedules.
    if (!started || queued > 0) return;
    if (resweepRequested && result.outcome === 'ok') schedule(0);
    else schedule(result.nextDelayMs);
  }

  async function sweep(token: { aborted: boolean }): Promise<SweepResult> {
    // This sweep starts from the first page: a resweep asked for before now is served by it.
    resweepRequested = false;
    const startedMs = now();
    const counts = { created: 0, updated: 0, seen: 0, pages: 0 };
    const createdIds: string[] = [];
    const updatedIds: string[] = [];
    let failure: unknown;
    let failed = false;
    let cutShort = false;

    // Pages read and not yet written: one transaction per group rather than per page (a commit
    // costs more than the ten rows in it), never holding a page longer than groupWaitMs.
    let group: ConcurRecord[] = [];
    const flush = () => {
      if (group.length === 0) return;
      const records = group;
      group = [];
      const saved = store.requests.upsertFromConcur(records, now());
      counts.created += saved.created.length;
      counts.updated += saved.updated.length;
      for (const request of saved.created) if (createdIds.length < LOGGED_IDS) createdIds.push(request.id);
      for (const request of saved.updated) if (updatedIds.length < LOGGED_IDS) updatedIds.push(request.id);
    };

    try {
      pages: for (const status of statuses) {
        const pages = client.pages({ status, limit: pageLimit });
        try {
          for (;;) {
            const next = pages.next();
            // Read below; if a write fails first, its outcome no longer matters.
            next.catch(() => undefined);
            // Concur is slow to send the next page: what has arrived is written while it waits.
            if (group.length > 0 && !(await settlesWithin(next, groupWaitMs))) flush();
            const step = await next;
            if (step.done) break;
            counts.pages++;
            counts.seen += step.value.items.length;
            for (const record of step.value.items) group.push(record);
            if (group.length >= groupRecords) flush();
            if (token.aborted) {
              cutShort = true;
              break pages;
            }
          }
        } finally {
          // Ends the generator (a request it has under way is left unread).
          void pages.return(undefined).catch(() => undefined);
        }
      }
    } catch (error) {
      failed = true;
      failure = error;
    }
    // A sweep that stops or fails half-way keeps every page it read.
    try {
      flush();
    } catch (error) {
      if (!failed) {
        failed = true;
        failure = error;
      }
    }

    const finishedMs = now();
    const base = { ...counts, startedAt: iso(startedMs), finishedAt: iso(finishedMs) };

    if (cutShort) {
      metrics.recordPoll();
      logger.info({ ...counts }, 'poll stopped before the end of the list (the relay is stopping)');
      return { ...base, outcome: 'stopped', error: null, consecutiveFailures: failures, nextDelayMs: intervalMs };
    }

    if (!failed) {
      const recovered = failures > 0;
      failures = 0;
      writeStatus({ state: 'ok', lastPollAt: base.finishedAt, lastSuccessAt: base.finishedAt, lastError: null });
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
    const judged = judge(failure);
    const nextDelayMs = judged.backOff
      ? backoffDelay({
          attempt: failures,
          baseMs: backoffBaseMs,
          maxMs: backoffMaxMs,
          retryAfterSeconds: judged.retryAfterSeconds,
          random,
        })
      : intervalMs;
    const lastError = judged.backOff
      ? `${withoutStop(judged.message)}; next try at ${iso(finishedMs + nextDelayMs)} (in ${seconds(nextDelayMs)})`
      : judged.message;
    writeStatus({ state: judged.state, lastPollAt: base.finishedAt, lastError });
    metrics.recordPoll(judged.kind);
    const fields = {
      ...counts,
      kind: judged.kind,
      httpStatus: failure instanceof ConcurError ? failure.status : undefined,
      concurId: failure instanceof ConcurError ? failure.concurId : undefined,
      consecutiveFailures: failures,
      nextSweepAt: iso(finishedMs + nextDelayMs),
    };
    if (judged.kind === 'internal') {
      logger.error({ ...fields, err: failure }, 'poll of Concur failed with an unexpected error');
    } else {
      logger.warn(fields, `poll of Concur failed: ${failure instanceof Error ? failure.message : judged.message}`);
    }
    return {
      ...base,
      outcome: 'failed',
      error: { kind: judged.kind, message: lastError },
      consecutiveFailures: failures,
      nextDelayMs,
    };
  }

  /** The summary must tell the truth, but a database that refuses the write must not kill the poller. */
  function writeStatus(patch: Partial<ConcurStatus>): void {
    try {
      store.state.updateConcurStatus(patch);
    } catch (error) {
      logger.error({ err: error }, 'could not record the state of Concur in the store');
    }
  }

  function lastResort(error: unknown): SweepResult {
    failures++;
    const at = iso(now());
    try {
      logger.error({ err: error }, 'poll of Concur failed with an unexpected error');
    } catch {
      // nothing left to tell
    }
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
    start() {
      if (started) return;
      started = true;
      if (current === null && queued === 0) schedule(0);
    },

    async stop() {
      started = false;
      clearTimer();
      nextSweepAt = null;
      if (current !== null) current.aborted = true;
      await chain;
    },

    sweepNow: () => enqueue(),

    requestResweep() {
      if (!started) return;
      if (current !== null) {
        resweepRequested = true;
        return;
      }
      // A sweep about to begin starts from the first page; while backing off, the schedule stands.
      if (queued > 0 || failures > 0) return;
      schedule(0);
    },

    get nextSweepAt() {
      return nextSweepAt;
    },
    get consecutiveFailures() {
      return failures;
    },
    get sweeping() {
      return current !== null;
    },
  };
}

interface Judgement {
  kind: SweepErrorKind;
  state: 'degraded' | 'unauthorized';
  /** For the summary's lastError: what happened, in words an operator can act on; no internals. */
  message: string;
  backOff: boolean;
  retryAfterSeconds?: number;
}

function judge(error: unknown): Judgement {
  if (!(error instanceof ConcurError)) {
    return { kind: 'internal', state: 'degraded', message: INTERNAL_ERROR_MESSAGE, backOff: false };
  }
  const said = error.message;
  switch (error.kind) {
    case 'unauthorized':
      return { kind: error.kind, state: 'unauthorized', message: said, backOff: false };
    case 'rate_limited':
      return {
        kind: error.kind,
        state: 'degraded',
        message: lead('Concur is rate limiting the relay', said),
        backOff: true,
        retryAfterSeconds: error.retryAfterSeconds,
      };
    case 'unavailable':
      return {
        kind: error.kind,
        state: 'degraded',
        message: lead('Concur is unavailable', said),
        backOff: true,
        retryAfterSeconds: error.retryAfterSeconds,
      };
    case 'timeout':
      return { kind: error.kind, state: 'degraded', message: lead('Concur is not answering in time', said), backOff: true };
    case 'bad_response':
      return { kind: error.kind, state: 'degraded', message: `Concur's answer could not be read: ${said}`, backOff: false };
    case 'not_found':
      return {
        kind: error.kind,
        state: 'degraded',
        message: `Concur answered 404 for the Connection Requests list; check CONCUR_BASE_URL${error.concurMessage ? ` (Concur said: ${error.concurMessage})` : ''}`,
        backOff: false,
      };
    case 'concur_error':
      return { kind: error.kind, state: 'degraded', message: said, backOff: false };
  }
}

/** Whether `promise` settles (either way) within `ms`; it is not awaited beyond that. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts the message with what it means, unless the client's message already does. */
function lead(meaning: string, said: string): string {
  return said.startsWith('Concur is') ? said : `${meaning}: ${said}`;
}

/** "…later." + "; next try at …" reads better without the full stop. */
function withoutStop(message: string): string {
  return message.replace(/\.+$/, '');
}

function seconds(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}
