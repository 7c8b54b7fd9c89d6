import { afterEach, describe, expect, it } from 'vitest';
import { createWorkerLoop, delayUntil, type PassSignal, type WorkerLoop, type WorkerLoopOptions } from '../../../relay/workers/loop.js';
import { captureLog, sleep, waitFor } from '../helpers.js';

/** The loop the poller, the outbox and the webhook worker run, on its own: passes that count themselves. */

const loops: Array<WorkerLoop<unknown>> = [];
afterEach(async () => {
  for (const loop of loops.splice(0)) await loop.stop();
});

function counting(overrides: Partial<WorkerLoopOptions<number>> = {}) {
  const log = captureLog();
  let passes = 0;
  const loop = createWorkerLoop<number>({
    name: 'the test worker',
    logger: log.logger,
    now: Date.now,
    pass: () => ++passes,
    nextDelayMs: () => 60_000,
    ...overrides,
  });
  loops.push(loop);
  return { loop, log, passes: () => passes };
}

describe('the worker loop', () => {
  it('runs a pass on start, then sleeps what the worker says; a burst of kicks is one more pass', async () => {
    const { loop, passes } = counting();
    loop.start();
    loop.start();
    await waitFor(() => passes() === 1 && loop.nextWakeAt !== null, 1000, 'the first pass');
    expect(loop.nextWakeAt! - Date.now()).toBeGreaterThan(55_000);
    for (let i = 0; i < 10; i += 1) loop.kick();
    await waitFor(() => passes() === 2 && loop.nextWakeAt !== null, 1000, 'the kicked pass');
    await sleep(20);
    expect(passes()).toBe(2);
  });

  it('never overlaps passes: a kick during one asks for one more after it', async () => {
    let active = 0;
    let most = 0;
    let passes = 0;
    const { loop } = counting({
      pass: async () => {
        active++;
        most = Math.max(most, active);
        await sleep(20);
        active--;
        return ++passes;
      },
    });
    loop.start();
    await waitFor(() => loop.running, 1000, 'a pass');
    loop.kick();
    loop.kick();
    await waitFor(() => passes === 2 && !loop.running, 1000, 'the second pass');
    expect(most).toBe(1);
  });

  it('waits out a store failure before the next pass, whatever wakes it, and logs it once', async () => {
    let failing = true;
    let passes = 0;
    const { loop, log } = counting({
      pass: () => {
        passes++;
        if (failing) throw new Error('SQLITE_BUSY: database is locked');
        return passes;
      },
      nextDelayMs: () => 0,
      minSleepMs: 5,
      backoffMs: () => 500,
    });
    loop.start();
    await waitFor(() => passes === 1, 1000, 'the failing pass');
    expect(loop.backingOff).toBe(true);
    loop.kick();
    await sleep(60);
    expect(passes).toBe(1);
    failing = false;
    await waitFor(() => passes >= 2, 3000, 'the pass after the backoff');
    expect(log.lines().filter((line) => line.msg === 'the test worker failed unexpectedly; it will try again')).toHaveLength(1);
  });

  it('sleeps what a store answering with promises says; a kick while it is asked is a pass, not a second timer', async () => {
    let answer: ((ms: number) => void) | undefined;
    const { loop, passes } = counting({
      nextDelayMs: () =>
        new Promise<number>((resolve) => {
          answer = resolve;
        }),
    });
    loop.start();
    await waitFor(() => passes() === 1 && answer !== undefined, 1000, 'the first pass');
    expect(loop.nextWakeAt).toBeNull();
    answer!(60_000);
    await waitFor(() => loop.nextWakeAt !== null, 1000, 'the sleep');
    expect(loop.nextWakeAt! - Date.now()).toBeGreaterThan(55_000);

    // Kicked while the next sleep is asked for: the kicked pass runs, and the late answer sets no timer of its own.
    answer = undefined;
    loop.kick();
    await waitFor(() => passes() === 2 && answer !== undefined, 1000, 'the kicked pass');
    const asked = answer!;
    loop.kick();
    asked(1);
    await waitFor(() => passes() === 3 && answer !== asked, 1000, 'the pass kicked while the sleep was asked for');
    await sleep(30);
    expect(passes()).toBe(3);
    answer!(60_000);
  });

  it('waits out a store that rejects when asked how long to sleep', async () => {
    let passes = 0;
    let failing = true;
    const { loop, log } = counting({
      pass: () => ++passes,
      nextDelayMs: () => (failing ? Promise.reject(new Error('connection terminated')) : Promise.resolve(60_000)),
      backoffMs: () => 300,
    });
    loop.start();
    await waitFor(() => passes === 1 && loop.backingOff, 1000, 'the failed ask');
    loop.kick();
    await sleep(60);
    expect(passes).toBe(1);
    failing = false;
    await waitFor(() => passes === 2, 3000, 'the pass after the backoff');
    expect(log.lines().filter((line) => line.msg === 'the test worker could not tell when its next work is due; it will try again').length).toBeGreaterThanOrEqual(1);
  });

  it('stop() tells the running pass, waits for it and for the work left in flight; then only runNow() runs', async () => {
    let seen: PassSignal | undefined;
    let passes = 0;
    let inFlightDone = false;
    const inFlight = sleep(40).then(() => (inFlightDone = true));
    const { loop } = counting({
      pass: async (signal) => {
        seen = signal;
        await sleep(20);
        return ++passes;
      },
      inFlight: () => (inFlightDone ? [] : [inFlight]),
    });
    loop.start();
    await waitFor(() => loop.running, 1000, 'a pass');
    await loop.stop();
    expect(seen?.stopping).toBe(true);
    expect(inFlightDone).toBe(true);
    expect(loop.nextWakeAt).toBeNull();

    loop.kick();
    await loop.drain();
    await sleep(20);
    expect(passes).toBe(1);
    expect(await loop.runNow()).toBe(2);
  });

  it('drain() runs a pass and waits for what it left in flight, without start()', async () => {
    const pending: Array<Promise<void>> = [];
    let passes = 0;
    const { loop } = counting({
      pass: () => {
        passes++;
        if (passes === 1) {
          const work = sleep(20).then(() => void pending.splice(pending.indexOf(work), 1));
          pending.push(work);
        }
        return passes;
      },
      inFlight: () => pending,
    });
    await loop.drain();
    expect(passes).toBe(2);
    expect(pending).toHaveLength(0);
    expect(loop.nextWakeAt).toBeNull();
  });

  it('delayUntil: until a stored time, at most the idle check, the idle check when nothing is due', () => {
    const now = Date.parse('2024-05-01T10:00:00.000Z');
    expect(delayUntil('2024-05-01T10:00:02.000Z', now)).toBe(2000);
    expect(delayUntil('2024-05-01T11:00:00.000Z', now)).toBe(30_000);
    expect(delayUntil(null, now)).toBe(30_000);
  });
});
