import { createWorkerLoop, delayUntil } from './loop.js';
import { quietly } from './options.js';

/**
 * A worker that keeps up to `concurrency` calls in flight at once, one per key (the webhook
 * worker: an endpoint; the auto-connect worker: a request), on the shared loop (loop.ts).
 *
 * A pass notes the time it looks at the store and, if a slot is free, lets the worker start calls
 * for what is due then (`fill`). Each call, once it ends, wakes the loop for the next, so what is
 * due but waiting for a slot needs no timer. Between passes the loop sleeps until what falls due
 * after the pass looked, not after now: something falling due between the two was not started
 * and would otherwise wait for the idle check (30 s). The look is noted before the free-slot
 * check, so that with every slot taken the sleep is not a busy wait for what already waits.
 */

export interface SlotWorkerOptions {
  /** As the log names the worker ("the webhook worker"). */
  name: string;
  logger: { error(fields: { err: unknown }, message: string): void };
  now: () => number;
  concurrency: number;
  /** The shortest sleep between passes. */
  minSleepMs: number;
  /** When the next call falls due after `at` (epoch ms): stored time text, or null when nothing will. */
  nextDueAt(at: number): Promise<string | null> | string | null;
  /** Starts calls for what is due at `at` (epoch ms), at most `slots.free`; never rejects. */
  fill(at: number, slots: Slots): Promise<void>;
  /** Listens for what may have become due (store events), calling `kick`; answers the unsubscribe. */
  subscribe(kick: () => void): () => void;
}

/** What a pass may do with the slots. */
export interface Slots {
  /** Slots without a call. */
  readonly free: number;
  /** Calls in flight. */
  readonly busy: number;
  /** Whether a call for `key` is in flight. */
  has(key: string): boolean;
  /** Runs `call` in a slot of its own for `key`; if it rejects, logged as `failure` (a store failure). */
  start(key: string, call: () => Promise<void>, failure: string): void;
  /** A store operation failed: logged, and the next pass waits for the loop's backoff. */
  storeTrouble(error: unknown, what: string): void;
  /** Looks again within the pass (what was settled without a call left slots free): the new look's time (epoch ms). */
  look(): number;
}

export interface SlotWorker {
  /** Starts calls for what is due (including what a previous process left), then keeps going. */
  start(): void;
  /** Something may be due: look now. Does nothing unless started. */
  kick(): void;
  /** No new calls; waits for those in flight and records them. */
  stop(): Promise<void>;
  /** Passes until nothing is due at `now()` and nothing is in flight. Works without start(). */
  drain(): Promise<void>;
  /** Calls in flight. */
  readonly inFlight: number;
  /** When the worker will look again on its own (epoch ms on `now`); null when not started. */
  readonly nextWakeAt: number | null;
}

export function createSlotWorker(options: SlotWorkerOptions): SlotWorker {
  const { name, logger, now, concurrency } = options;
  /** By key: one call per key at a time. */
  const inFlight = new Map<string, Promise<void>>();
  /** The time the last pass asked the store what is due (epoch ms). */
  let lookedAt = now();
  let unsubscribe: (() => void) | undefined;

  const loop = createWorkerLoop({
    name,
    logger,
    now,
    pass: async () => {
      lookedAt = now();
      if (inFlight.size >= concurrency) return;
      await options.fill(lookedAt, slots);
    },
    nextDelayMs: async () => delayUntil(await options.nextDueAt(lookedAt), now()),
    minSleepMs: options.minSleepMs,
    inFlight: () => inFlight.values(),
  });

  function storeTrouble(error: unknown, what: string): void {
    loop.storeFailed();
    quietly(() => logger.error({ err: error }, `${name} ${what}; it will try again`));
  }

  const slots: Slots = {
    get free() {
      return concurrency - inFlight.size;
    },
    get busy() {
      return inFlight.size;
    },
    has: (key) => inFlight.has(key),
    start(key, call, failure) {
      const running = call()
        .catch((error: unknown) => storeTrouble(error, failure))
        .finally(() => {
          inFlight.delete(key);
          loop.kick();
        });
      inFlight.set(key, running);
    },
    storeTrouble,
    look: () => (lookedAt = now()),
  };

  return {
    start() {
      if (loop.started) return;
      unsubscribe = options.subscribe(loop.kick);
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
