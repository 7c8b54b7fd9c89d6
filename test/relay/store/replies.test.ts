import { createHash } from 'node:crypto';
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
  DEFAULT_REPLY_LEASE_MS,
} from '../../../relay/store/index.js';
import { DATABASES, databasePerTest, type DatabaseHarness, type TestStore } from './databases.js';
import { record, TESTER } from './helpers.js';

describe.each(DATABASES)('the reply outbox ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));
  beforeEach(async () => {
    await store.requests.upsertFromConcur([record('A'), record('B', { status: 'CREU1' })], harness.clock.iso());
  });

  it('queues a reply, due at once, with a reply.updated event, and shows it on the request', async () => {
    const before = await store.events.latestId();
    const now = harness.clock.iso();
    const { reply, replyId, repeated } = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    expect(repeated).toBe(false);
    expect(reply).toEqual({ status: 'CRSUC', state: 'queued', attempts: 0, lastError: null, updatedAt: now, requestedBy: 'tester' });
    expect(z.strictObject(Reply.shape).parse(reply)).toEqual(reply);

    expect((await store.requests.get('A'))?.reply).toEqual(reply);
    expect((await store.requests.get('A'))?.status).toBe('Pending');
    expect((await store.events.after(before, 10)).map((e) => [e.type, e.data])).toEqual([
      ['reply.updated', { requestId: 'A', reply }],
    ]);
    expect(await store.replies.pendingCount()).toBe(1);
    expect(await store.replies.nextDueAt()).toBe(now);
    expect(await store.replies.due(now, 10)).toEqual([
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

  it('survives a restart: a queued reply is still due after reopening', async () => {
    const { replyId } = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    store = await harness.reopen();
    expect((await store.replies.due(harness.clock.iso(), 10)).map((r) => r.id)).toEqual([replyId]);
  });

  it('sent: moves the request to the reply code’s group at once, with reply.updated and request.updated', async () => {
    const { replyId } = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    expect(await store.requests.counts()).toEqual({ pending: 1, failed: 1, connected: 0 });
    const before = await store.events.latestId();
    const sentAt = harness.clock.advance(2000);

    const sent = await store.replies.markSent(replyId);
    expect(sent).toMatchObject({ state: 'sent', attempts: 1, lastError: null, nextAttemptAt: null, updatedAt: sentAt });

    const request = await store.requests.get('A');
    expect(request).toMatchObject({ status: 'CRSUC', group: 'connected', lastModified: sentAt, retries: 0 });
    expect(request?.reply).toEqual({ status: 'CRSUC', state: 'sent', attempts: 1, lastError: null, updatedAt: sentAt, requestedBy: 'tester' });
    expect(await store.requests.counts()).toEqual({ pending: 0, failed: 1, connected: 1 });
    expect((await store.requests.list({ group: 'connected', limit: 10 })).items.map((r) => r.id)).toEqual(['A']);

    const events = await store.events.after(before, 10);
    expect(events.map((e) => e.type)).toEqual(['reply.updated', 'request.updated']);
    expect(events[0]?.data).toEqual({ requestId: 'A', reply: request?.reply });
    expect(events[1]?.data).toEqual(request);

    expect(await store.replies.pendingCount()).toBe(0);
    expect(await store.replies.due(harness.clock.advance(60_000), 10)).toEqual([]);
    expect(await store.replies.counts()).toEqual({ queued: 0, exchanging: 0, waiting_token: 0, sent: 1, failed: 0 });
  });

  it('sent: keeps the reply code while Concur still lists its old, unchanged view; takes Concur’s new status when it moves', async () => {
    const { replyId } = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    await store.replies.markSent(replyId);
    const stale = await store.requests.upsertFromConcur([record('A')], harness.clock.advance(60_000));
    expect(stale.updated).toEqual([]);
    expect((await store.requests.get('A'))?.status).toBe('CRSUC');

    const moved = await store.requests.upsertFromConcur(
      [record('A', { status: 'Connected', lastModified: '2024-05-01T10:05:00Z' })],
      harness.clock.advance(60_000),
    );
    expect(moved.updated.map((r) => [r.status, r.group])).toEqual([['Connected', 'connected']]);
  });

  it('markSent on a reply that is no longer queued changes nothing', async () => {
    const { replyId } = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    const sent = await store.replies.markSent(replyId);
    const latest = await store.events.latestId();
    expect(await store.replies.markSent(replyId)).toEqual(sent);
    expect(await store.replies.markFailed(replyId, 'late')).toEqual(sent);
    expect(await store.events.latestId()).toBe(latest);
    await expect(Promise.resolve().then(() => store.replies.markSent(9999))).rejects.toThrow(UnknownReplyError);
  });

  it('attempts: records each retryable failure and when to try next', async () => {
    const { replyId } = await store.replies.enqueue('B', 'CREU1', { actor: TESTER });
    const next = new Date(harness.clock.ms + 30_000).toISOString();
    const before = await store.events.latestId();
    const attempt = await store.replies.markAttempt(replyId, { attempts: 1, nextAttemptAt: next, lastError: 'Concur answered 503' });
    expect(attempt).toMatchObject({ state: 'queued', attempts: 1, nextAttemptAt: next, lastError: 'Concur answered 503' });
    expect(await store.replies.due(harness.clock.iso(), 10)).toEqual([]);
    expect(await store.replies.nextDueAt()).toBe(next);
    expect((await store.replies.due(next, 10)).map((r) => r.id)).toEqual([replyId]);
    expect((await store.events.after(before, 10)).map((e) => e.type)).toEqual(['reply.updated']);
    expect((await store.requests.get('B'))?.reply).toMatchObject({ state: 'queued', attempts: 1, lastError: 'Concur answered 503' });
  });

  it('failed: keeps the request’s status, shows Concur’s message, frees the request for another reply', async () => {
    const { replyId } = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    const failed = await store.replies.markFailed(replyId, 'Concur answered 400: Invalid status');
    expect(failed).toMatchObject({ state: 'failed', attempts: 1, lastError: 'Concur answered 400: Invalid status' });
    expect(await store.requests.get('A')).toMatchObject({
      status: 'Pending',
      group: 'pending',
      reply: { status: 'CRSUC', state: 'failed', lastError: 'Concur answered 400: Invalid status' },
    });
    expect(await store.replies.counts()).toEqual({ queued: 0, exchanging: 0, waiting_token: 0, sent: 0, failed: 1 });
    expect((await store.replies.enqueue('A', 'CREU1', { actor: TESTER })).repeated).toBe(false);
    expect((await store.requests.get('A'))?.reply).toMatchObject({ status: 'CREU1', state: 'queued' });
  });

  it('refuses a second reply while one is on its way (ReplyInFlightError), and inserts nothing', async () => {
    const { replyId } = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
    const latest = await store.events.latestId();
    let error: unknown;
    try {
      await store.replies.enqueue('A', 'CREU1', { actor: TESTER });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ReplyInFlightError);
    expect(error).toMatchObject({ code: 'reply_in_flight', requestId: 'A', replyId });
    expect(await store.replies.counts()).toEqual({ queued: 1, exchanging: 0, waiting_token: 0, sent: 0, failed: 0 });
    expect(await store.events.latestId()).toBe(latest);
  });

  it('refuses an unknown request (UnknownRequestError)', async () => {
    await expect(Promise.resolve().then(() => store.replies.enqueue('nope', 'CRSUC', { actor: TESTER }))).rejects.toThrow(UnknownRequestError);
    await expect(Promise.resolve().then(() => store.replies.enqueue('nope', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-for-nope' }))).rejects.toThrow(UnknownRequestError);
  });

  it(`counts sent CRRET replies and refuses CRRET after ${MAX_RETRIES} (RetryLimitError)`, async () => {
    for (let i = 1; i <= MAX_RETRIES; i += 1) {
      const { replyId } = await store.replies.enqueue('A', 'CRRET', { actor: TESTER });
      await store.replies.markSent(replyId);
      expect(await store.requests.get('A')).toMatchObject({ status: 'CRRET', group: 'pending', retries: i });
    }
    await expect(Promise.resolve().then(() => store.replies.enqueue('A', 'CRRET', { actor: TESTER }))).rejects.toThrow(RetryLimitError);
    // Other codes are still allowed, and a failed CRRET does not count.
    const { replyId } = await store.replies.enqueue('A', 'CRPA1', { actor: TESTER });
    await store.replies.markSent(replyId);
    expect(await store.requests.get('A')).toMatchObject({ status: 'CRPA1', group: 'failed', retries: MAX_RETRIES });

    const b = await store.replies.enqueue('B', 'CRRET', { actor: TESTER });
    await store.replies.markFailed(b.replyId, 'Concur answered 400');
    expect((await store.requests.get('B'))?.retries).toBe(0);
  });

  describe('Idempotency-Key', () => {
    it('a repeat returns the same reply and inserts nothing, also after it was sent and after a restart', async () => {
      const first = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-1' });
      const latest = await store.events.latestId();
      const again = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-1' });
      expect(again).toEqual({ ...first, repeated: true });
      expect(await store.events.latestId()).toBe(latest);
      expect(await store.replies.counts()).toEqual({ queued: 1, exchanging: 0, waiting_token: 0, sent: 0, failed: 0 });

      await store.replies.markSent(first.replyId);
      store = await harness.reopen();
      const afterSent = await store.replies.enqueue('A', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-1' });
      expect(afterSent).toMatchObject({ replyId: first.replyId, repeated: true, reply: { state: 'sent' } });
      expect(await store.replies.counts()).toEqual({ queued: 0, exchanging: 0, waiting_token: 0, sent: 1, failed: 0 });
    });

    it('a key reused for another body or another request is an IdempotencyMismatchError', async () => {
      await store.replies.enqueue('A', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-1' });
      await expect(Promise.resolve().then(() => store.replies.enqueue('A', 'CREU1', { actor: TESTER, idempotencyKey: 'key-1' }))).rejects.toThrow(IdempotencyMismatchError);
      await expect(Promise.resolve().then(() => store.replies.enqueue('B', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-1' }))).rejects.toThrow(IdempotencyMismatchError);
      expect(await store.replies.counts()).toEqual({ queued: 1, exchanging: 0, waiting_token: 0, sent: 0, failed: 0 });
    });

    it('a key whose call was refused is not remembered', async () => {
      await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
      await expect(Promise.resolve().then(() => store.replies.enqueue('A', 'CREU1', { actor: TESTER, idempotencyKey: 'key-2' }))).rejects.toThrow(ReplyInFlightError);
      const [queued] = await store.replies.due(harness.clock.iso(), 1);
      if (queued) await store.replies.markFailed(queued.id, 'Concur answered 404');
      expect((await store.replies.enqueue('A', 'CREU1', { actor: TESTER, idempotencyKey: 'key-2' })).repeated).toBe(false);
    });

    it('old keys can be pruned', async () => {
      await store.replies.enqueue('A', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-old' });
      harness.clock.advance(25 * 3600_000);
      expect(await store.idempotency.prune(new Date(harness.clock.ms - 24 * 3600_000))).toBe(1);
      // The key is forgotten, so the same key is new again (and meets the reply in flight).
      await expect(Promise.resolve().then(() => store.replies.enqueue('A', 'CRSUC', { actor: TESTER, idempotencyKey: 'key-old' }))).rejects.toThrow(ReplyInFlightError);
    });
  });

  it('hands out due replies oldest first, up to the limit', async () => {
    await store.requests.upsertFromConcur([record('C'), record('D')], harness.clock.iso());
    const ids: number[] = [];
    for (const id of ['A', 'B', 'C', 'D']) {
      harness.clock.advance(1000);
      ids.push((await store.replies.enqueue(id, 'CRSUC', { actor: TESTER })).replyId);
    }
    expect((await store.replies.due(harness.clock.iso(), 3)).map((r) => r.id)).toEqual(ids.slice(0, 3));
    expect(await store.replies.pendingCount()).toBe(4);
  });
});

describe.each(DATABASES)('replies in doubt: an attempt recorded before its PUT ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  const tokenOf = (id: string) => record(id).requestToken!;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));
  beforeEach(async () => {
    await store.requests.upsertFromConcur([record('A'), record('B', { lastModified: null })], harness.clock.iso());
  });

  it('keeps the SHA-256 of the request token and Concur’s LastModified, announces nothing, changes nothing a client sees', async () => {
    const { replyId, reply } = await store.replies.enqueue('A', 'CRRET', { actor: TESTER });
    const before = await store.events.latestId();
    harness.clock.advance(5000);
    const started = await store.replies.markAttemptStarted(replyId);
    expect(started.inDoubt).toEqual({
      startedAt: harness.clock.iso(),
      tokenSha256: createHash('sha256').update(tokenOf('A')).digest('hex'),
      lastModified: '2024-05-01T09:00:00.000Z',
    });
    expect(requestTokenSha256(tokenOf('A'))).toBe(started.inDoubt!.tokenSha256);
    expect(await store.events.latestId()).toBe(before);
    expect((await store.requests.get('A'))?.reply).toEqual(reply);
    expect((await store.replies.due(harness.clock.iso(), 10)).map((r) => [r.id, r.inDoubt?.startedAt])).toEqual([[replyId, harness.clock.iso()]]);

    // What a read-back showed replaces what the last poll stored.
    const again = await store.replies.markAttemptStarted(replyId, { requestToken: 'a-newer-token', lastModified: '2024-05-01T09:30:00Z' });
    expect(again.inDoubt).toMatchObject({
      tokenSha256: requestTokenSha256('a-newer-token'),
      lastModified: '2024-05-01T09:30:00.000Z',
    });
    const none = await store.replies.markAttemptStarted((await store.replies.enqueue('B', 'CREU1', { actor: TESTER })).replyId, { requestToken: null, lastModified: null });
    expect(none.inDoubt).toMatchObject({ tokenSha256: null, lastModified: null });
  });

  it('never writes a request token into replies (the raw rows hold hashes only)', async () => {
    const { replyId } = await store.replies.enqueue('A', 'CRRET', { actor: TESTER });
    await store.replies.markAttemptStarted(replyId);
    await store.replies.markAttemptStarted(replyId, { requestToken: 'another-secret-request-token', lastModified: null });
    await harness.closeAll();
    const rows = JSON.stringify(await harness.rows('SELECT * FROM replies'));
    expect(rows).not.toContain(tokenOf('A'));
    expect(rows).not.toContain('another-secret-request-token');
    expect(rows).toContain(requestTokenSha256('another-secret-request-token'));
  });

  it('survives a restart; cleared by sent, failed and a retry that surely did not arrive; kept by one that may have', async () => {
    const a = (await store.replies.enqueue('A', 'CRSUC', { actor: TESTER })).replyId;
    const b = (await store.replies.enqueue('B', 'CREU1', { actor: TESTER })).replyId;
    await store.replies.markAttemptStarted(a);
    await store.replies.markAttemptStarted(b);
    store = await harness.reopen();
    expect((await store.replies.get(a))?.inDoubt).toBeDefined();
    // On PostgreSQL the restarted relay is another relay: it takes its replies up once the old claims' lease has ended.
    harness.clock.advance(DEFAULT_REPLY_LEASE_MS);

    const next = harness.clock.advance(1000);
    expect((await store.replies.markAttempt(a, { attempts: 1, nextAttemptAt: next, lastError: 'timeout', inDoubt: true })).inDoubt).toBeDefined();
    expect((await store.replies.markAttempt(b, { attempts: 1, nextAttemptAt: next, lastError: '503' })).inDoubt).toBeUndefined();
    await store.replies.markAttemptStarted(b);
    expect((await store.replies.markFailed(b, 'Concur answered 400')).inDoubt).toBeUndefined();
    expect((await store.replies.markSent(a)).inDoubt).toBeUndefined();
    // A reply no longer queued is not started again.
    expect((await store.replies.markAttemptStarted(a)).inDoubt).toBeUndefined();
  });
});
