import { quietly } from './options.js';

/**
 * The loop every background worker runs (the poller, the reply outbox, the webhook worker): passes
 * of work one at a time, and between them an unref'd timer for the next (a worker alone never keeps
 * the process alive). The worker says what a pass does and how long to sleep after one; the loop
 * owns when passes run:
 *
 * - Passes never overlap. A pass asked for while one runs comes after it; wake-ups asked for while
 *   a pass is waiting to begin are that pass (a burst of kicks is one look).
 * - After the last pass asked for, while started, the loop sleeps `nextDelayMs()` (at least
 *   `minSleepMs`, so that no oddity turns it into a busy loop; at most setTimeout's limit).
 * - A store failure (`storeFailed()`, a pass that throws, a `nextDelayMs` that throws) is waited out
 *   before the next pass, whatever wakes the loop: a failing database is not asked again at once by
 *   every kick. The wait is `backoffMs(failures in a row)`; a pass without one ends the run.
 * - `stop()` tells the running pass (its `signal.stopping`), waits for it, for the passes already
 *   asked for and for what the worker still has in flight; after it only `runNow()` runs a pass.
 */

/** setTimeout's largest delay; longer sleeps are cut to it (the worker then simply looks early). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Even with nothing due a worker looks again this often, in case work was stored without a kick. */
const IDLE_CHECK_MS = 30_000;
const DEFAULT_STORE_BACKOFF_MS = 1_000;

/** Stored and logged times: epoch ms as ISO-8601 text. */
export const iso = (ms: number): string => new Date(ms).toISOString();

/** How long until `dueAt` (stored time text), but no longer than the idle check; the idle check when nothing is due. */
export function delayUntil(dueAt: string | null, now: number): number {
  return dueAt === null ? IDLE_CHECK_MS : Math.min(IDLE_CHECK_MS, Date.parse(dueAt) - now);
}

/** What a pass is told while it runs. */
export interface PassSignal {
  /** stop() was called: finish what is under way, start nothing new. */
  readonly stopping: boolean;
}

export interface WorkerLoopOptions<T> {
  /** The worker, as the loop's log lines name it ("the reply worker"). */
  name: string;
  /** The worker's logger (pino's, structurally: workers/ imports nothing from base/). */
  logger: { error(fields: { err: unknown }, message: string): void };
  /** The worker's clock (epoch ms): nextWakeAt is on it. The backoff runs on real time. */
  now: () => number;
  /** One pass of the worker's work. */
  pass(signal: PassSignal): Promise<T> | T;
  /**
   * After a pass, while started: how long to sleep before the next (not a finite number: the idle
   * check). It may answer with a promise (it reads the store); the next pass waits for it.
   */
  nextDelayMs(): number | Promise<number>;
  /** The shortest sleep between passes. Default 0. */
  minSleepMs?: number;
  /** The wait after a store failure, by failures in a row (1, 2, …). Default 1 s. */
  backoffMs?(failures: number): number;
  /** Work a pass started and left running (attempts in flight): drain() and stop() wait for it. */
  inFlight?(): Iterable<Promise<unknown>>;
}

export interface WorkerLoop<T> {
  /** Passes from now on: one at once (unless one is running or asked for), then on the timer and on kicks. Again: nothing. */
  start(): void;
  /** Work is waiting: a pass now, or one more after the running one. Does nothing unless started. */
  kick(): void;
  /** One pass of its own, after those asked for before it, started or not (also after stop()); resolves with its result (undefined when it threw). */
  runNow(): Promise<T | undefined>;
  /** Passes until the worker has nothing left in flight. Works without start(); does nothing after stop(). */
  drain(): Promise<void>;
  /** No new passes until start(); waits for the running one, those already asked for and the work in flight. */
  stop(): Promise<void>;
  /** A store operation failed: no pass before the backoff is over. Counts once per pass. */
  storeFailed(): void;
  /** When the loop will next wake on its own (epoch ms, on `now`); null when not started or while a pass is due. */
  readonly nextWakeAt: number | null;
  /** Between start() and stop(). */
  readonly started: boolean;
  /** Whether a pass is running. */
  readonly running: boolean;
  /** Whether a store failure is being waited out (or the running pass met one). */
  readonly backingOff: boolean;
}

type Ask = 'wake' | 'drain' | 'run';

export function createWorkerLoop<T>(options: WorkerLoopOptions<T>): WorkerLoop<T> {
  const { name, logger, now } = options;
  const minSleepMs = options.minSleepMs ?? 0;
  const backoffMs = options.backoffMs ?? (() => DEFAULT_STORE_BACKOFF_MS);
  const inFlight = (): Array<Promise<unknown>> => [...(options.inFlight?.() ?? [])];

  let started = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let nextWakeAt: number | null = null;
  /** Passes run one after the other on this chain; it never rejects. */
  let chain: Promise<unknown> = Promise.resolve();
  /** Passes asked for and not yet begun. */
  let queued = 0;
  let current: { stopping: boolean; failed: boolean } | null = null;
  /** Store failures in a row, and (real time) until when the last one is waited out. */
  let failures = 0;
  let heldUntil = 0;

  const held = (): boolean => Date.now() < heldUntil;

  function clearTimer(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    nextWakeAt = null;
  }

  function storeFailed(): void {
    if (current !== null) {
      if (current.failed) return;
      current.failed = true;
    }
    failures++;
    heldUntil = Date.now() + Math.max(0, backoffMs(failures));
  }

  function report(error: unknown, what: string): void {
    quietly(() => logger.error({ err: error }, `${name} ${what}; it will try again`));
  }

  /** Sleeps until the next pass is due, as nextDelayMs says, or until a store failure is waited out. */
  async function sleep(): Promise<void> {
    clearTimer();
    if (!started || stopped) return;
    let delay = heldUntil - Date.now();
    if (delay <= 0) {
      try {
        delay = await options.nextDelayMs();
      } catch (error) {
        report(error, 'could not tell when its next work is due');
        storeFailed();
        delay = heldUntil - Date.now();
      }
      // While it was read a pass may have been asked for (it serves what the timer would wake for), or the loop stopped.
      if (!started || stopped || queued > 0) return;
    }
    setTimer(Math.max(delay, heldUntil - Date.now()));
  }

  /** Sleeps until a store failure is waited out (a kick meanwhile). */
  function sleepHeld(): void {
    clearTimer();
    if (started && !stopped) setTimer(heldUntil - Date.now());
  }

  function setTimer(delayMs: number): void {
    clearTimer();
    const delay = Math.min(MAX_TIMER_MS, Math.max(minSleepMs, Number.isFinite(delayMs) ? delayMs : IDLE_CHECK_MS));
    nextWakeAt = now() + delay;
    timer = setTimeout(() => {
      timer = undefined;
      nextWakeAt = null;
      if (started && !stopped && queued === 0) void ask('wake');
    }, delay);
    timer.unref();
  }

  function ask(kind: Ask): Promise<T | undefined> {
    // A pass is coming: it serves whatever the timer would have woken for.
    clearTimer();
    queued++;
    const pass = chain.then(async (): Promise<T | undefined> => {
      queued--;
      // Stopped: only runNow() still runs. A wake with a pass behind it is served by that pass.
      if ((kind !== 'run' && stopped) || (kind === 'wake' && queued > 0)) return undefined;
      const signal = { stopping: false, failed: false };
      current = signal;
      let result: T | undefined;
      try {
        result = await options.pass(signal);
      } catch (error) {
        report(error, 'failed unexpectedly');
        storeFailed();
      } finally {
        current = null;
      }
      if (!signal.failed && !held()) failures = 0;
      if (queued === 0) await sleep();
      return result;
    });
    chain = pass.then(
      () => undefined,
      () => undefined,
    );
    return pass;
  }

  return {
    start() {
      if (started) return;
      started = true;
      stopped = false;
      if (current === null && queued === 0) void ask('wake');
    },

    kick() {
      if (!started || stopped || queued > 0) return;
      // While a failure is waited out the timer is set for its end; a pass that runs sets it when done.
      if (held()) {
        if (current === null) sleepHeld();
        return;
      }
      void ask('wake');
    },

    runNow: () => ask('run'),

    async drain() {
      // The first pass is the one asked for; those after it wait out a store failure like any other.
      for (let first = true; ; first = false) {
        if (stopped) return;
        if (first || !held()) await ask('drain');
        const busy = inFlight();
        if (busy.length === 0) return;
        await Promise.race(busy);
      }
    },

    async stop() {
      started = false;
      stopped = true;
      clearTimer();
      if (current !== null) current.stopping = true;
      await chain;
      await Promise.all(inFlight());
    },

    storeFailed,

    get nextWakeAt() {
      return nextWakeAt;
    },
    get started() {
      return started;
    },
    get running() {
      return current !== null;
    },
    get backingOff() {
      return current?.failed === true || held();
    },
  };
}
