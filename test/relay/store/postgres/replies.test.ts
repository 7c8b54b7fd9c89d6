import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseHarness, type TestStore } from '../databases.js';
import { record, TESTER } from '../helpers.js';

/** What only the PostgreSQL outbox does (the rest runs on both databases: ../replies.test.ts, ../reply-claims.test.ts). */
describe('a relay leaving the PostgreSQL outbox', () => {
  let harness: DatabaseHarness;
  let a: TestStore;
  let b: TestStore;
  beforeEach(async () => {
    harness = new DatabaseHarness({ kind: 'postgres', name: 'PostgreSQL' });
    a = await harness.store({ relayId: 'relay-a' });
    b = await harness.store({ relayId: 'relay-b' });
  });
  afterEach(() => harness.cleanup());

  it('gives back at close what it claimed and never started; what it started waits for its lease', async () => {
    await a.requests.upsertFromConcur([record('R1'), record('R2'), record('R3')], harness.clock.iso());
    const ids: number[] = [];
    for (const id of ['R1', 'R2', 'R3']) ids.push((await a.replies.enqueue(id, 'CREU1', { actor: TESTER })).replyId);
    expect((await a.replies.due(harness.clock.iso(), 10)).map((r) => r.id)).toEqual(ids);
    await a.replies.markAttemptStarted(ids[0]!);
    await a.close();
    // No time has passed: only the two it never started are free.
    expect((await b.replies.due(harness.clock.iso(), 10)).map((r) => r.id)).toEqual(ids.slice(1));
  });
});
