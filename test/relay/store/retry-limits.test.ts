import { afterEach, describe, expect, it } from 'vitest';
import { RETRY_LIMITS } from '../../../shared/status.js';
import { RetryLimitError } from '../../../relay/store/errors.js';
import { DATABASES, DatabaseHarness, type TestStore } from './databases.js';
import { record, TESTER } from './helpers.js';

/**
 * The retry limits of the store's Concur API version (shared/status.ts RETRY_LIMITS), held at
 * enqueue and shown on every request: 3.0 five CRRET, a CREU fails for good; 3.2 48 CRRET and
 * four CREU codes (each requeued by Concur), one more of either refused with the reason.
 */

describe.each(DATABASES)('retry limits ($name)', (database) => {
  let harness: DatabaseHarness;
  afterEach(() => harness.cleanup());

  async function open(apiVersion?: '3.0' | '3.2'): Promise<TestStore> {
    harness = new DatabaseHarness(database);
    const store = await harness.store(apiVersion === undefined ? {} : { apiVersion });
    await store.requests.upsertFromConcur([record('A')], harness.clock.iso());
    return store;
  }

  async function send(store: TestStore, status: 'CRRET' | 'CREU1' | 'CREU2', times: number): Promise<void> {
    for (let i = 0; i < times; i++) await store.replies.markSent((await store.replies.enqueue('A', status, { actor: TESTER })).replyId);
  }

  async function refusal(run: () => unknown): Promise<RetryLimitError> {
    try {
      await run();
    } catch (error) {
      expect(error).toBeInstanceOf(RetryLimitError);
      return error as RetryLimitError;
    }
    throw new Error('expected a RetryLimitError');
  }

  it('3.0 (the default): five CRRET, the sixth refused; CREU codes have no limit of their own and are counted', async () => {
    const store = await open();
    expect(await store.requests.get('A')).toMatchObject({ retries: 0, retryLimit: 5, userErrors: 0, userErrorLimit: null });
    await send(store, 'CRRET', 5);
    const error = await refusal(() => store.replies.enqueue('A', 'CRRET', { actor: TESTER }));
    expect(error).toMatchObject({ code: 'retry_limit', kind: 'CRRET', retries: 5, max: 5 });
    expect(error.message).toBe('this request has used all 5 retries (CRRET) that Concur allows; another would fail it for good');
    await send(store, 'CREU1', 1);
    expect(await store.requests.get('A')).toMatchObject({ retries: 5, userErrors: 1, group: 'failed' });
  });

  it('3.2: 48 CRRET, the 49th refused; the view says so', async () => {
    const store = await open('3.2');
    await send(store, 'CRRET', RETRY_LIMITS['3.2'].CRRET);
    expect(await store.requests.get('A')).toMatchObject({ retries: 48, retryLimit: 48, userErrorLimit: 4 });
    const error = await refusal(() => store.replies.enqueue('A', 'CRRET', { actor: TESTER }));
    expect(error).toMatchObject({ kind: 'CRRET', retries: 48, max: 48 });
    expect(error.message).toContain('all 48 retries (CRRET)');
    // Nothing was queued by the refusal.
    expect(await store.replies.counts()).toMatchObject({ queued: 0, sent: 48 });
  });

  it('3.2: four CREU codes, the fifth refused whichever it is; CRRET is counted apart', async () => {
    const store = await open('3.2');
    await send(store, 'CREU1', 2);
    await send(store, 'CREU2', 2);
    await send(store, 'CRRET', 1);
    expect(await store.requests.get('A')).toMatchObject({ retries: 1, userErrors: 4 });
    for (const code of ['CREU1', 'CREU2', 'CREU3'] as const) {
      const error = await refusal(() => store.replies.enqueue('A', code, { actor: TESTER }));
      expect(error).toMatchObject({ kind: 'CREU', retries: 4, max: 4 });
      expect(error.message).toBe('this request was answered with a CREU code 4 times, all 4 that Concur requeues; another would fail it for good');
    }
    // Other codes are still fine.
    expect((await store.replies.enqueue('A', 'CRSUC', { actor: TESTER })).reply.state).toBe('queued');
  });

  it('the exchange’s CRRET-or-CRPA decision uses the version’s limit', async () => {
    expect(await (await open('3.2')).replies.exchangeFacts('A')).toMatchObject({ retries: 0, retryLimit: 48 });
    await harness.cleanup();
    expect(await (await open()).replies.exchangeFacts('A')).toMatchObject({ retryLimit: 5 });
  });
});
