import { afterEach, describe, expect, it } from 'vitest';
import { createSlotWorker, type SlotWorker, type SlotWorkerOptions } from '../../../relay/workers/slots.js';
import { captureLog, sleep, waitFor } from '../helpers.js';

/**
 * The slot worker on its own (the webhook and auto-connect workers run on it): a list of jobs due
 * now, calls held open until the test lets them end.
 */

const workers: SlotWorker[] = [];
/** Ends every call a test left held, so that stop() (which waits for them) returns. */
const releases: Array<() => void> = [];
afterEach(async () => {
  for (const release of releases.splice(0)) release();
  for (const worker of workers.splice(0)) await worker.stop();
});

function jobs(keys: readonly string[], overrides: Partial<SlotWorkerOptions> = {}) {
  const log = captureLog();
  const waiting = [...keys];
  const running = new Map<string, () => void>();
  let fills = 0;
  let mostAtOnce = 0;
  const worker = createSlotWorker({
    name: 'the test worker',
    logger: log.logger,
    now: Date.now,
    concurrency: 2,
    minSleepMs: 10,
    nextDueAt: () => null,
    subscribe: () => () => undefined,
    async fill(_at, slots) {
      fills++;
      for (const key of [...waiting]) {
        if (slots.free <= 0) break;
        if (slots.has(key)) continue;
        waiting.splice(waiting.indexOf(key), 1);
        slots.start(key, () => new Promise<void>((resolve) => running.set(key, resolve)), 'could not record a job');
        mostAtOnce = Math.max(mostAtOnce, slots.busy);
      }
    },
    ...overrides,
  });
  workers.push(worker);
  releases.push(() => {
    for (const resolve of running.values()) resolve();
    running.clear();
  });
  const finish = (key: string) => {
    running.get(key)?.();
    running.delete(key);
  };
  return { worker, log, waiting, running, finish, fills: () => fills, mostAtOnce: () => mostAtOnce };
}

describe('the slot worker', () => {
  it('keeps at most `concurrency` calls in flight; each that ends starts the next, with no timer', async () => {
    const { worker, waiting, running, finish, mostAtOnce } = jobs(['a', 'b', 'c', 'd', 'e']);
    worker.start();
    await waitFor(() => running.size === 2, 1000, 'two calls');
    await sleep(30);
    expect([...running.keys()]).toEqual(['a', 'b']);
    expect(worker.inFlight).toBe(2);
    finish('a');
    await waitFor(() => running.has('c'), 1000, 'the third call, once the first ended');
    for (const key of ['b', 'c', 'd']) {
      finish(key);
      await waitFor(() => !running.has(key) && (waiting.length === 0 || running.size === 2), 1000, `the call after ${key}`);
    }
    finish('e');
    await waitFor(() => worker.inFlight === 0, 1000, 'every call ended');
    expect(mostAtOnce()).toBe(2);
  });

  it('with every slot taken, a pass does not ask for work; the sleep is until what falls due after its look', async () => {
    const asked: number[] = [];
    let dueAt: number | null = null;
    const { worker, running, fills } = jobs(['a', 'b', 'c'], {
      nextDueAt: (at) => {
        asked.push(at);
        // Something fell due just before the pass looked: already waiting, not a reason to wake.
        return dueAt !== null && dueAt > at ? new Date(dueAt).toISOString() : null;
      },
    });
    worker.start();
    await waitFor(() => running.size === 2, 1000, 'two calls');
    const before = fills();
    dueAt = Date.now() - 1;
    worker.kick();
    await waitFor(() => asked.length >= 2, 1000, 'the kicked pass asked when to wake');
    await sleep(100);
    // The kicked pass found no free slot, so it did not fill; it slept for the idle check, not 10 ms at a time.
    expect(fills()).toBe(before);
    expect(asked.length).toBeLessThanOrEqual(3);
    expect(worker.nextWakeAt! - Date.now()).toBeGreaterThan(20_000);
  });

  it('a call that fails is logged as the worker says, frees its slot, and the next pass waits for the backoff', async () => {
    const { worker, log, fills } = jobs(['a'], {
      fill: async (_at, slots) => {
        if (!slots.has('x')) slots.start('x', () => Promise.reject(new Error('SQLITE_BUSY: database is locked')), 'could not record a job');
      },
    });
    worker.start();
    await waitFor(() => log.lines().some((line) => line.msg === 'the test worker could not record a job; it will try again'), 1000, 'the failure logged');
    expect(worker.inFlight).toBe(0);
    const after = fills();
    await sleep(200);
    // The ended call kicked the loop, but a store failure is waited out (1 s) before the next pass.
    expect(fills()).toBe(after);
  });

  it('look() within a pass notes a new look, so the sleep counts from it', async () => {
    const asked: number[] = [];
    let looked = 0;
    const { worker } = jobs([], {
      nextDueAt: (at) => (asked.push(at), null),
      fill: async (at, slots) => {
        await sleep(30);
        looked = slots.look();
        expect(looked).toBeGreaterThanOrEqual(at + 25);
      },
    });
    worker.start();
    await waitFor(() => asked.length === 1, 1000, 'the first sleep');
    expect(asked[0]).toBe(looked);
  });

  it('stop() unsubscribes and waits for the calls in flight', async () => {
    let unsubscribed = false;
    const { worker, running, finish } = jobs(['a'], { subscribe: () => () => void (unsubscribed = true) });
    worker.start();
    await waitFor(() => running.size === 1, 1000, 'a call');
    let stopped = false;
    const stopping = worker.stop().then(() => (stopped = true));
    await sleep(30);
    expect(unsubscribed).toBe(true);
    expect(stopped).toBe(false);
    finish('a');
    await stopping;
    expect(worker.inFlight).toBe(0);
  });
});
