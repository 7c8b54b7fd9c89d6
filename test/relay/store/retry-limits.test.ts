import { afterEach, describe, expect, it } from 'vitest';
import { RETRY_LIMITS } from '../../../shared/status.js';
import { RetryLimitError } from '../../../relay/store/errors.js';
import type { Store } from '../../../relay/store/index.js';
import { record, StoreHarness, TESTER } from './helpers.js';

/**
 * The retry limits of the store's Concur API version (shared/status.ts RETRY_LIMITS), held at
 * enqueue and shown on every request: 3.0 five CRRET, a CREU fails for good; 3.2 48 CRRET and
 * four CREU codes (each requeued by Concur), one more of either refused with the reason.
 */

let harness: StoreHarness;
afterEach(() => harness.cleanup());

function open(apiVersion?: '3.0' | '3.2'): Store {
  harness = new StoreHarness();
  const store = harness.storeWith(apiVersion === undefined ? {} : { apiVersion });
  store.requests.upsertFromConcur([record('A')], harness.clock.iso());
  return store;
}

function send(store: Store, status: 'CRRET' | 'CREU1' | 'CREU2', times: number): void {
  for (let i = 0; i < times; i++) store.replies.markSent(store.replies.enqueue('A', status, { actor: TESTER }).replyId);
}

function refusal(run: () => unknown): RetryLimitError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RetryLimitError);
    return error as RetryLimitError;
  }
  throw new Error('expected a RetryLimitError');
}

describe('retry limits', () => {
  it('3.0 (the default): five CRRET, the sixth refused; CREU codes have no limit of their own and are counted', () => {
    const store = open();
    expect(store.requests.get('A')).toMatchObject({ retries: 0, retryLimit: 5, userErrors: 0, userErrorLimit: null });
    send(store, 'CRRET', 5);
    const error = refusal(() => store.replies.enqueue('A', 'CRRET', { actor: TESTER }));
    expect(error).toMatchObject({ code: 'retry_limit', kind: 'CRRET', retries: 5, max: 5 });
    expect(error.message).toBe('this request has used all 5 retries (CRRET) that Concur allows; another would fail it for good');
    send(store, 'CREU1', 1);
    expect(store.requests.get('A')).toMatchObject({ retries: 5, userErrors: 1, group: 'failed' });
  });

  it('3.2: 48 CRRET, the 49th refused; the view says so', () => {
    const store = open('3.2');
    send(store, 'CRRET', RETRY_LIMITS['3.2'].CRRET);
    expect(store.requests.get('A')).toMatchObject({ retries: 48, retryLimit: 48, userErrorLimit: 4 });
    const error = refusal(() => store.replies.enqueue('A', 'CRRET', { actor: TESTER }));
    expect(error).toMatchObject({ kind: 'CRRET', retries: 48, max: 48 });
    expect(error.message).toContain('all 48 retries (CRRET)');
    // Nothing was queued by the refusal.
    expect(store.replies.counts()).toMatchObject({ queued: 0, sent: 48 });
  });

  it('3.2: four CREU codes, the fifth refused whichever it is; CRRET is counted apart', () => {
    const store = open('3.2');
    send(store, 'CREU1', 2);
    send(store, 'CREU2', 2);
    send(store, 'CRRET', 1);
    expect(store.requests.get('A')).toMatchObject({ retries: 1, userErrors: 4 });
    for (const code of ['CREU1', 'CREU2', 'CREU3'] as const) {
      const error = refusal(() => store.replies.enqueue('A', code, { actor: TESTER }));
      expect(error).toMatchObject({ kind: 'CREU', retries: 4, max: 4 });
      expect(error.message).toBe('this request was answered with a CREU code 4 times, all 4 that Concur requeues; another would fail it for good');
    }
    // Other codes are still fine.
    expect(store.replies.enqueue('A', 'CRSUC', { actor: TESTER }).reply.state).toBe('queued');
  });

  it('the exchange’s CRRET-or-CRPA decision uses the version’s limit', () => {
    expect(open('3.2').replies.exchangeFacts('A')).toMatchObject({ retries: 0, retryLimit: 48 });
    harness.cleanup();
    expect(open().replies.exchangeFacts('A')).toMatchObject({ retryLimit: 5 });
  });
});
