import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMatchWorker, type MatchWorker } from '../../../relay/match/worker.js';
import { captureLog } from '../helpers.js';
import { DatabaseHarness, type TestStore } from '../store/databases.js';
import { record } from '../store/helpers.js';
import { DIRECTORY_SECRET, TestDirectory } from './helpers.js';

/**
 * The auto-connect worker on two relays that share one PostgreSQL database, asking one real HTTP
 * directory on loopback: both workers look at the same due requests at the same moment, and the
 * directory is asked about each request once, by one of them, and one reply is queued for it.
 */

describe('the auto-connect worker on two relays of one database', () => {
  let harness: DatabaseHarness;
  let directory: TestDirectory;
  const workers: MatchWorker[] = [];

  beforeEach(async () => {
    harness = new DatabaseHarness({ kind: 'postgres', name: 'PostgreSQL' });
    // The signature's timestamp is on the worker's clock, and the directory checks it against its own.
    harness.clock.ms = Date.now();
    directory = await new TestDirectory().start();
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
    await directory.close();
    await harness.cleanup();
  });

  function worker(store: TestStore): MatchWorker {
    const made = createMatchWorker({
      store,
      directory: { url: directory.url, secret: DIRECTORY_SECRET, timeoutMs: 2_000, allowPrivate: true },
      autoReply: 'connect',
      logger: captureLog().logger,
      now: harness.clock.now,
      concurrency: 3,
    });
    workers.push(made);
    return made;
  }

  it('asks the directory about each request once, on one relay or the other, and queues one reply for each', async () => {
    const a = await harness.store({ askDirectory: true });
    const b = await harness.store({ askDirectory: true });
    const ids = Array.from({ length: 10 }, (_, n) => `REQ${n}`);
    await a.requests.upsertFromConcur(ids.map((id) => record(id)), harness.clock.iso());
    // Slow enough that both workers have calls in flight together.
    directory.answer = (q) => ({ answer: { result: 'member', memberId: `M-${q.data.requestId}` }, delayMs: 50 });
    await Promise.all([worker(a).drain(), worker(b).drain()]);

    const asked = directory.calls.map((call) => call.question?.data.requestId);
    expect(asked.sort()).toEqual(ids);
    for (const id of ids) {
      expect(await b.requests.get(id), id).toMatchObject({ match: { result: 'member' }, reply: { status: 'CRSUC', requestedBy: 'auto' } });
      expect(await a.matches.memberId(id)).toBe(`M-${id}`);
    }
    expect(await a.matches.nextDueAt()).toBeNull();
  });
});
