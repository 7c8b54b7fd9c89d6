import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { beforeEach, describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { Reply } from '../../../shared/models.js';
import { MAX_RETRIES } from '../../../shared/status.js';
import {
  IdempotencyMismatchError,
  ReplyInFlightError,
  requestTokenSha256,
  RetryLimitError,
  UnknownReplyError,
  UnknownRequestError,
  type Store,
} from '../../../relay/store/index.js';
import { record, storePerTest, type StoreHarness } from './helpers.js';
import { TESTER } from './helpers.js';

describe('the reply outbox', () => {
  let harness: StoreHarness;
  let store: Store;
  storePerTest((h, s) => ((harness = h), (store = s)));
  beforeEach(() => {
    store.requests.upsertFromConcur([record('A'), record('B', { status: 'CREU1' })], harness.clock.iso());
  });

  it('queues a reply, due at once, with a reply.updated event, and shows it on the request', () => {
    const before = store.events.latestId();
    const now = harness.clock.iso();
    const { reply, replyId, repeated } = store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    expect(repeated).toBe(false);
    expect(reply).toEqual({ status: 'CRSUC', state: 'queued', attempts: 0, lastError: null, updatedAt: now, requestedBy: 'tester' });
    expect(z.strictObject(Reply.shape).parse(reply)).toEqual(reply);

    expect(store.requests.get('A')?.reply).toEqual(reply);
    expect(store.requests.get('A')?.status).toBe('Pending');
    expect(store.events.after(before, 10).map((e) => [e.type, e.data])).toEqual([
      ['reply.updated', { requestId: 'A', reply }],
    ]);
    expect(store.replies.pendingCount()).toBe(1);
    expect(store.replies.nextDueAt()).toBe(now);
    expect(store.replies.due(now, 10)).toEqual([
      {
        id: replyId,
        requestId: 'A',
        status: 'CRSUC',
        state: 'queued',
        attempts: 0,
        lastError: null,
        nextAttemptAt: now,
        createdAt: now,
        updatedAt: now,
        requestedBy: 'tester',
        // What the outbox needs for the exchange a CRSUC starts with (none made yet).
        requestedStatus: 'CRSUC',
        exchanged: false,
        tokenIssuedAt: null,
        exchangeAttempts: 0,
      },
    ]);
  });

  it('survives a restart: a queued reply is still due after reopening', () => {
    const { replyId } = store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    store = harness.reopen();
    expect(store.replies.due(harness.clock.iso(), 10).map((r) => r.id)).toEqual([replyId]);
  });

  it('sent: moves the request to the reply code’s group at once, with reply.updated and request.updated', () => {
    const { replyId } = store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    expect(store.requests.counts()).toEqual({ pending: 1, failed: 1, connected: 0 });
    const before = store.events.latestId();
    const sentAt = harness.clock.advance(2000);

    const sent = store.replies.markSent(replyId);
    expect(sent).toMatchObject({ state: 'sent', attempts: 1, lastError: null, nextAttemptAt: null, updatedAt: sentAt });

    const request = store.requests.get('A');
    expect(request).toMatchObject({ status: 'CRSUC', group: 'connected', lastModified: sentAt, retries: 0 });
    expect(request?.reply).toEqual({ status: 'CRSUC', state: 'sent', attempts: 1, lastError: null, updatedAt: sentAt, requestedBy: 'tester' });
    expect(store.requests.counts()).toEqual({ pending: 0, failed: 1, connected: 1 });
    expect(store.requests.list({ group: 'connected', limit: 10 }).items.map((r) => r.id)).toEqual(['A']);

    const events = store.events.after(before, 10);
    expect(events.map((e) => e.type)).toEqual(['reply.updated', 'request.updated']);
    expect(events[0]?.data).toEqual({ requestId: 'A', reply: request?.reply });
    expect(events[1]?.data).toEqual(request);

    expect(store.replies.pendingCount()).toBe(0);
    expect(store.replies.due(harness.clock.advance(60_000), 10)).toEqual([]);
    expect(store.replies.counts()).toEqual({ queued: 0, exchanging: 0, waiting_token: 0, sent: 1, failed: 0 });
  });

  it('sent: keeps the reply code while Concur still lists its old, unchanged view; takes Concur’s new status when it moves', () => {
    const { replyId } = store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    store.replies.markSent(replyId);
    const stale = store.requests.upsertFromConcur([record('A')], harness.clock.advance(60_000));
    expect(stale.updated).toEqual([]);
    expect(store.requests.get('A')?.status).toBe('CRSUC');

    const moved = store.requests.upsertFromConcur(
      [record('A', { status: 'Connected', lastModified: '2024-05-01T10:05:00Z' })],
      harness.clock.advance(60_000),
    );
    expect(moved.updated.map((r) => [r.status, r.group])).toEqual([['Connected', 'connected']]);
  });

  it('markSent on a reply that is no longer queued changes nothing', () => {
    const { replyId } = store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    const sent = store.replies.markSent(replyId);
    const latest = store.events.latestId();
    expect(store.replies.markSent(replyId)).toEqual(sent);
    expect(store.replies.markFailed(replyId, 'late')).toEqual(sent);
    expect(store.events.latestId()).toBe(latest);
    expect(() => store.replies.markSent(9999)).toThrow(UnknownReplyError);
  });

  it('attempts: records each retryable failure and when to try next', () => {
    const { replyId } = store.replies.enqueue('B', 'CREU1', { actor: TESTER });
    const next = new Date(harness.clock.ms + 30_000).toISOString();
    const before = store.events.latestId();
    const attempt = store.replies.markAttempt(replyId, { attempts: 1, nextAttemptAt: next, lastError: 'Concur answered 503' });
    expect(attempt).toMatchObject({ state: 'queued', attempts: 1, nextAttemptAt: next, lastError: 'Concur answered 503' });
    expect(store.replies.due(harness.clock.iso(), 10)).toEqual([]);
    expect(store.replies.nextDueAt()).toBe(next);
    expect(store.replies.due(next, 10).map((r) => r.id)).toEqual([replyId]);
    expect(store.events.after(before, 10).map((e) => e.type)).toEqual(['reply.updated']);
    expect(store.requests.get('B')?.reply).toMatchObject({ state: 'queued', attempts: 1, lastError: 'Concur answered 503' });
  });

  it('failed: keeps the request’s status, shows Concur’s message, frees the request for another reply', () => {
    const { replyId } = store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    const failed = store.replies.markFailed(replyId, 'Concur answered 400: Invalid status');
    expect(failed).toMatchObject({ state: 'failed', attempts: 1, lastError: 'Concur answered 400: Invalid status' });
    expect(store.requests.get('A')).toMatchObject({
      status: 'Pending',
      group: 'pending',
      reply: { status: 'CRSUC', state: 'failed', lastError: 'Concur answered 400: Invalid status' },
    });
    expect(store.replies.counts()).toEqual({ queued: 0, exchanging: 0, waiting_token: 0, sent: 0, failed: 1 });
    expect(store.replies.enqueue('A', 'CREU1', { actor: TESTER }).repeated).toBe(false);
    expect(store.requests.get('A')?.reply).toMatchObject({ status: 'CREU1', state: 'queued' });
  });

  it('refuses a second reply while one is on its way (ReplyInFlightError), and inserts nothing', () => {
    const { replyId } = store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    const latest = store.events.latestId();
    let error: unknown;
    try {
      store.replies.enqueue('A', 'CREU1', { actor: TESTER });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ReplyInFlightError);
    expect(error).toMatchObject({ code: 'reply_in_flight', requestId: 'A', replyId });
    expect(store.replies.counts()).toEqual({ queued: 1, exchanging: 0, waiting_token: 0, sent: 0, failed: 0 });
    expect(store.events.latestId()).toBe(latest);
  });

  it('refuses an unknown request (UnknownRequestError)', () => {
    expect(() => store.replies.enqueue('nope', 'CRSUC', { actor: TESTER })).toThrow(UnknownRequestError);
    expect(() => store.replies.enqueue('nope', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-for-nope' })).toThrow(UnknownRequestError);
  });

  it(`counts sent CRRET replies and refuses CRRET after ${MAX_RETRIES} (RetryLimitError)`, () => {
    for (let i = 1; i <= MAX_RETRIES; i += 1) {
      const { replyId } = store.replies.enqueue('A', 'CRRET', { actor: TESTER });
      store.replies.markSent(replyId);
      expect(store.requests.get('A')).toMatchObject({ status: 'CRRET', group: 'pending', retries: i });
    }
    expect(() => store.replies.enqueue('A', 'CRRET', { actor: TESTER })).toThrow(RetryLimitError);
    // Other codes are still allowed, and a failed CRRET does not count.
    const { replyId } = store.replies.enqueue('A', 'CRPA1', { actor: TESTER });
    store.replies.markSent(replyId);
    expect(store.requests.get('A')).toMatchObject({ status: 'CRPA1', group: 'failed', retries: MAX_RETRIES });

    const b = store.replies.enqueue('B', 'CRRET', { actor: TESTER });
    store.replies.markFailed(b.replyId, 'Concur answered 400');
    expect(store.requests.get('B')?.retries).toBe(0);
  });

  describe('Idempotency-Key', () => {
    it('a repeat returns the same reply and inserts nothing, also after it was sent and after a restart', () => {
      const first = store.replies.enqueue('A', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-1' });
      const latest = store.events.latestId();
      const again = store.replies.enqueue('A', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-1' });
      expect(again).toEqual({ ...first, repeated: true });
      expect(store.events.latestId()).toBe(latest);
      expect(store.replies.counts()).toEqual({ queued: 1, exchanging: 0, waiting_token: 0, sent: 0, failed: 0 });

      store.replies.markSent(first.replyId);
      store = harness.reopen();
      const afterSent = store.replies.enqueue('A', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-1' });
      expect(afterSent).toMatchObject({ replyId: first.replyId, repeated: true, reply: { state: 'sent' } });
      expect(store.replies.counts()).toEqual({ queued: 0, exchanging: 0, waiting_token: 0, sent: 1, failed: 0 });
    });

    it('a key reused for another body or another request is an IdempotencyMismatchError', () => {
      store.replies.enqueue('A', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-1' });
      expect(() => store.replies.enqueue('A', 'CREU1', { actor: TESTER, idempotencyKey: 'key-1' })).toThrow(IdempotencyMismatchError);
      expect(() => store.replies.enqueue('B', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-1' })).toThrow(IdempotencyMismatchError);
      expect(store.replies.counts()).toEqual({ queued: 1, exchanging: 0, waiting_token: 0, sent: 0, failed: 0 });
    });

    it('a key whose call was refused is not remembered', () => {
      store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
      expect(() => store.replies.enqueue('A', 'CREU1', { actor: TESTER, idempotencyKey: 'key-2' })).toThrow(ReplyInFlightError);
      const [queued] = store.replies.due(harness.clock.iso(), 1);
      if (queued) store.replies.markFailed(queued.id, 'Concur answered 404');
      expect(store.replies.enqueue('A', 'CREU1', { actor: TESTER, idempotencyKey: 'key-2' }).repeated).toBe(false);
    });

    it('old keys can be pruned', () => {
      store.replies.enqueue('A', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-old' });
      harness.clock.advance(25 * 3600_000);
      expect(store.idempotency.prune(new Date(harness.clock.ms - 24 * 3600_000))).toBe(1);
      // The key is forgotten, so the same key is new again (and meets the reply in flight).
      expect(() => store.replies.enqueue('A', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-old' })).toThrow(ReplyInFlightError);
    });
  });

  it('hands out due replies oldest first, up to the limit', () => {
    store.requests.upsertFromConcur([record('C'), record('D')], harness.clock.iso());
    const ids = ['A', 'B', 'C', 'D'].map((id) => {
      harness.clock.advance(1000);
      return store.replies.enqueue(id, 'CRSUC', { actor: TESTER }).replyId;
    });
    expect(store.replies.due(harness.clock.iso(), 3).map((r) => r.id)).toEqual(ids.slice(0, 3));
    expect(store.replies.pendingCount()).toBe(4);
  });
});

describe('replies in doubt: an attempt recorded before its PUT', () => {
  let harness: StoreHarness;
  let store: Store;
  const tokenOf = (id: string) => record(id).requestToken!;
  storePerTest((h, s) => ((harness = h), (store = s)));
  beforeEach(() => {
    store.requests.upsertFromConcur([record('A'), record('B', { lastModified: null })], harness.clock.iso());
  });

  it('keeps the SHA-256 of the request token and Concur’s LastModified, announces nothing, changes nothing a client sees', () => {
    const { replyId, reply } = store.replies.enqueue('A', 'CRRET', { actor: TESTER });
    const before = store.events.latestId();
    harness.clock.advance(5000);
    const started = store.replies.markAttemptStarted(replyId);
    expect(started.inDoubt).toEqual({
      startedAt: harness.clock.iso(),
      tokenSha256: createHash('sha256').update(tokenOf('A')).digest('hex'),
      lastModified: '2024-05-01T09:00:00.000Z',
    });
    expect(requestTokenSha256(tokenOf('A'))).toBe(started.inDoubt!.tokenSha256);
    expect(store.events.latestId()).toBe(before);
    expect(store.requests.get('A')?.reply).toEqual(reply);
    expect(store.replies.due(harness.clock.iso(), 10).map((r) => [r.id, r.inDoubt?.startedAt])).toEqual([[replyId, harness.clock.iso()]]);

    // What a read-back showed replaces what the last poll stored.
    const again = store.replies.markAttemptStarted(replyId, { requestToken: 'a-newer-token', lastModified: '2024-05-01T09:30:00Z' });
    expect(again.inDoubt).toMatchObject({
      tokenSha256: requestTokenSha256('a-newer-token'),
      lastModified: '2024-05-01T09:30:00.000Z',
    });
    const none = store.replies.markAttemptStarted(store.replies.enqueue('B', 'CREU1', { actor: TESTER }).replyId, { requestToken: null, lastModified: null });
    expect(none.inDoubt).toMatchObject({ tokenSha256: null, lastModified: null });
  });

  it('never writes a request token into replies (the raw rows hold hashes only)', () => {
    const { replyId } = store.replies.enqueue('A', 'CRRET', { actor: TESTER });
    store.replies.markAttemptStarted(replyId);
    store.replies.markAttemptStarted(replyId, { requestToken: 'another-secret-request-token', lastModified: null });
    harness.closeAll();
    const db = new Database(harness.path, { readonly: true });
    try {
      const rows = JSON.stringify(db.prepare('SELECT * FROM replies').all());
      expect(rows).not.toContain(tokenOf('A'));
      expect(rows).not.toContain('another-secret-request-token');
      expect(rows).toContain(requestTokenSha256('another-secret-request-token'));
    } finally {
      db.close();
    }
  });

  it('survives a restart; cleared by sent, failed and a retry that surely did not arrive; kept by one that may have', () => {
    const a = store.replies.enqueue('A', 'CRSUC', { actor: TESTER }).replyId;
    const b = store.replies.enqueue('B', 'CREU1', { actor: TESTER }).replyId;
    store.replies.markAttemptStarted(a);
    store.replies.markAttemptStarted(b);
    store = harness.reopen();
    expect(store.replies.get(a)?.inDoubt).toBeDefined();

    const next = harness.clock.advance(1000);
    expect(store.replies.markAttempt(a, { attempts: 1, nextAttemptAt: next, lastError: 'timeout', inDoubt: true }).inDoubt).toBeDefined();
    expect(store.replies.markAttempt(b, { attempts: 1, nextAttemptAt: next, lastError: '503' }).inDoubt).toBeUndefined();
    store.replies.markAttemptStarted(b);
    expect(store.replies.markFailed(b, 'Concur answered 400').inDoubt).toBeUndefined();
    expect(store.replies.markSent(a).inDoubt).toBeUndefined();
    // A reply no longer queued is not started again.
    expect(store.replies.markAttemptStarted(a).inDoubt).toBeUndefined();
  });
});
