import { describe, expect, it } from 'vitest';
import { hashReplyBody } from '../../../relay/store/idempotency.js';
import { IdempotencyMismatchError } from '../../../relay/store/index.js';
import { DATABASES, databasePerTest, type DatabaseHarness, type TestStore } from './databases.js';
import { record } from './helpers.js';

/**
 * The Idempotency-Keys part on its own (replies.test.ts tests it through the reply flow). The
 * replies the keys point at are written from outside: the replies part is not the subject here.
 */
describe.each(DATABASES)('Idempotency-Keys in the store ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));

  const crsuc = hashReplyBody({ status: 'CRSUC' });

  /** Requests A and B with one reply each (ids 1 and 2). */
  async function twoReplies(): Promise<void> {
    await store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.iso());
    for (const id of ['A', 'B']) {
      await harness.execute(
        `INSERT INTO replies (request_id, status, state, created_at, updated_at) VALUES ('${id}', 'CRSUC', 'queued', '${harness.clock.iso()}', '${harness.clock.iso()}')`,
      );
    }
  }

  it('finds nothing for a new key, and the reply a remembered key produced, also after a restart', async () => {
    await twoReplies();
    expect(await store.idempotency.find('key-1', 'A', crsuc)).toBeUndefined();
    await store.idempotency.remember('key-1', 'A', crsuc, 1);
    expect(await store.idempotency.find('key-1', 'A', crsuc)).toBe(1);
    store = await harness.reopen();
    expect(await store.idempotency.find('key-1', 'A', crsuc)).toBe(1);
  });

  it('refuses a key used for another request or another body', async () => {
    await twoReplies();
    await store.idempotency.remember('key-1', 'A', crsuc, 1);
    await expect(Promise.resolve().then(() => store.idempotency.find('key-1', 'B', crsuc))).rejects.toThrow(IdempotencyMismatchError);
    await expect(Promise.resolve().then(() => store.idempotency.find('key-1', 'A', hashReplyBody({ status: 'CREU1' })))).rejects.toThrow(
      IdempotencyMismatchError,
    );
  });

  it('remembers a key once: a second relay remembering the same key is refused', async () => {
    await twoReplies();
    const other = await harness.store();
    const outcomes = await Promise.allSettled([
      Promise.resolve().then(() => store.idempotency.remember('key-1', 'A', crsuc, 1)),
      Promise.resolve().then(() => other.idempotency.remember('key-1', 'B', crsuc, 2)),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const winner = outcomes[0]?.status === 'fulfilled' ? { request: 'A', reply: 1 } : { request: 'B', reply: 2 };
    expect(await other.idempotency.find('key-1', winner.request, crsuc)).toBe(winner.reply);
  });

  it('forgets keys older than asked, and only those', async () => {
    await twoReplies();
    await store.idempotency.remember('key-old', 'A', crsuc, 1);
    harness.clock.advance(25 * 3600_000);
    await store.idempotency.remember('key-new', 'B', crsuc, 2);
    expect(await store.idempotency.prune(new Date(harness.clock.ms - 24 * 3600_000))).toBe(1);
    expect(await store.idempotency.find('key-old', 'A', crsuc)).toBeUndefined();
    expect(await store.idempotency.find('key-new', 'B', crsuc)).toBe(2);
    expect(await store.idempotency.prune(new Date(harness.clock.ms - 24 * 3600_000))).toBe(0);
  });
});
