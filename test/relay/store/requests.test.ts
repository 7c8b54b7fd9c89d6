import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { ConnectionRequest, RequestsPage } from '../../../shared/models.js';
import { BadCursorError, encodeCursor, toIso, type Awaitable } from '../../../relay/store/index.js';
import { DATABASES, databasePerTest, type DatabaseHarness, type TestStore } from './databases.js';
import { record, TESTER, type TestClock } from './helpers.js';

const FIFTEEN_MINUTES = 15 * 60 * 1000;

/** A store call as a promise, so that a throw of SQLite's and a rejection of PostgreSQL's read alike. */
const attempt = <T>(call: () => Awaitable<T>): Promise<T> => Promise.resolve().then(call);

/** 23 requests, lastModified one minute apart, with some ties broken by id; their ids. */
async function seed23(store: Pick<TestStore, 'requests'>, clock: TestClock): Promise<string[]> {
  const records = Array.from({ length: 23 }, (_, i) => {
    const minute = i < 20 ? i : 19; // the last four share one time
    return record(`R${String(i).padStart(2, '0')}`, {
      lastModified: new Date(Date.parse('2024-05-01T00:00:00Z') + minute * 60_000).toISOString(),
      status: i % 3 === 0 ? 'CREU1' : i % 3 === 1 ? 'Pending' : 'Connected',
    });
  });
  await store.requests.upsertFromConcur(records, clock.iso());
  return records.map((r) => r.id);
}

describe.each(DATABASES)('connection requests in the store ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));

  describe('upsertFromConcur', () => {
    it('creates new requests with the API shape, firstSeenAt and the token expiry', async () => {
      const seenAt = harness.clock.iso();
      const { created, updated } = await store.requests.upsertFromConcur([record('A'), record('B', { requestToken: null })], seenAt);
      expect(updated).toEqual([]);
      expect(created.map((r) => r.id)).toEqual(['A', 'B']);
      for (const request of created) expect(ConnectionRequest.parse(request)).toEqual(request);

      expect(created[0]).toEqual({
        id: 'A',
        uri: 'https://www.concursolutions.com/api/v3.0/common/connectionrequests/A',
        firstName: 'Ada',
        middleName: null,
        lastName: 'Lovelace',
        loyaltyNumber: 'LN-A',
        discountCode: '',
        status: 'Pending',
        group: 'pending',
        lastModified: '2024-05-01T09:00:00.000Z',
        firstSeenAt: seenAt,
        requestTokenExpiresAt: new Date(Date.parse(seenAt) + FIFTEEN_MINUTES).toISOString(),
        retries: 0,
        retryLimit: 5,
        userErrors: 0,
        userErrorLimit: null,
        userId: null,
        emailAddresses: [],
        reply: null,
        connectionId: null,
        match: null,
      });
      expect(created[1]?.requestTokenExpiresAt).toBeNull();
      expect(await store.requests.get('A')).toEqual(created[0]);
      expect(await store.requests.get('nope')).toBeUndefined();
    });

    it('appends one request.created event per new request', async () => {
      const { created } = await store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.iso());
      const events = await store.events.after(0, 100);
      expect(events.map((e) => [e.type, e.data])).toEqual([
        ['request.created', created[0]],
        ['request.created', created[1]],
      ]);
    });

    it('leaves unchanged requests alone: no update, no event', async () => {
      await store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.iso());
      const latest = await store.events.latestId();
      const again = await store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.advance(60_000));
      expect(again).toEqual({ created: [], updated: [] });
      expect(await store.events.latestId()).toBe(latest);
      expect((await store.requests.get('A'))?.firstSeenAt).toBe('2024-05-01T10:00:00.000Z');
    });

    it('updates changed requests and appends request.updated with the new shape', async () => {
      await store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.iso());
      const before = await store.events.latestId();
      const { created, updated } = await store.requests.upsertFromConcur(
        [record('A', { loyaltyNumber: 'LN-NEW', lastModified: '2024-05-01T09:30:00Z' }), record('B')],
        harness.clock.advance(60_000),
      );
      expect(created).toEqual([]);
      expect(updated).toHaveLength(1);
      expect(updated[0]).toMatchObject({ id: 'A', loyaltyNumber: 'LN-NEW', lastModified: '2024-05-01T09:30:00.000Z' });
      expect(updated[0]?.firstSeenAt).toBe('2024-05-01T10:00:00.000Z');
      expect((await store.events.after(before, 10)).map((e) => [e.type, e.data])).toEqual([['request.updated', updated[0]]]);
    });

    it('detects a change in each field Concur owns', async () => {
      const base = record('A');
      await store.requests.upsertFromConcur([base], harness.clock.iso());
      const changes = [
        { uri: 'https://elsewhere.example/A' },
        { firstName: 'Augusta' },
        { middleName: 'King' },
        { lastName: 'Byron' },
        { loyaltyNumber: 'LN-2' },
        { discountCode: null },
        { status: 'Processing' as const },
        { message: 'hello' },
        { userId: 'user-guid' },
        { emailAddresses: ['ada@example.com'] },
        { emailAddresses: ['ada@example.com', 'ada@example.org'] },
        { emailAddresses: ['ada@example.org', 'ada@example.com'] },
        { requestToken: 'secret-request-token-rotated' },
        { lastModified: '2024-05-01T09:59:00Z' },
      ];
      let current = base;
      for (const change of changes) {
        current = { ...current, ...change };
        const { updated } = await store.requests.upsertFromConcur([current], harness.clock.advance(1000));
        expect(updated, JSON.stringify(change)).toHaveLength(1);
      }
    });

    it('shows the traveller’s userId and e-mail addresses (3.2) in the API shape, in Concur’s order, and reads them back', async () => {
      const [created] = (await store.requests.upsertFromConcur(
        [record('E', { userId: 'b244a439-a082-4405-b0d7-2e61ebf9e29c', emailAddresses: ['b@example.org', 'a@example.com'] })],
        harness.clock.iso(),
      )).created;
      expect(created).toMatchObject({ userId: 'b244a439-a082-4405-b0d7-2e61ebf9e29c', emailAddresses: ['b@example.org', 'a@example.com'] });
      expect(await store.requests.get('E')).toEqual(created);
      expect((await store.requests.list({ limit: 10 })).items.find((r) => r.id === 'E')).toEqual(created);
    });

    it('restarts the 15 minutes when Concur issues a new request token', async () => {
      await store.requests.upsertFromConcur([record('A')], harness.clock.iso());
      const later = harness.clock.advance(20 * 60_000);
      const { updated } = await store.requests.upsertFromConcur([record('A', { requestToken: 'secret-request-token-2' })], later);
      expect(updated[0]?.requestTokenExpiresAt).toBe(new Date(Date.parse(later) + FIFTEEN_MINUTES).toISOString());
      expect(await store.requests.getRequestToken('A')).toBe('secret-request-token-2');

      const { updated: noToken } = await store.requests.upsertFromConcur(
        [record('A', { requestToken: null })],
        harness.clock.advance(1000),
      );
      expect(noToken[0]?.requestTokenExpiresAt).toBeNull();
    });

    it('falls back to seenAt for lastModified when Concur gives none, and does not see that as a change later', async () => {
      const seenAt = harness.clock.iso();
      const { created } = await store.requests.upsertFromConcur([record('A', { lastModified: null })], seenAt);
      expect(created[0]?.lastModified).toBe(seenAt);
      const again = await store.requests.upsertFromConcur([record('A', { lastModified: null })], harness.clock.advance(60_000));
      expect(again.updated).toEqual([]);

      const changedAt = harness.clock.advance(60_000);
      const { updated } = await store.requests.upsertFromConcur([record('A', { lastModified: null, firstName: 'Eve' })], changedAt);
      expect(updated[0]?.lastModified).toBe(changedAt);
    });

    it('normalises statuses into their group', async () => {
      const { created } = await store.requests.upsertFromConcur(
        [record('A', { status: 'Connected' }), record('B', { status: 'CREU2' }), record('C', { status: 'CRRET' })],
        harness.clock.iso(),
      );
      expect(created.map((r) => [r.status, r.group])).toEqual([
        ['Connected', 'connected'],
        ['CREU2', 'failed'],
        ['CRRET', 'pending'],
      ]);
    });

    it('writes a whole poll or nothing: a failure part-way leaves no rows and no events', async () => {
      await store.requests.upsertFromConcur([record('A')], harness.clock.iso());
      const latest = await store.events.latestId();
      await expect(
        attempt(() =>
          store.requests.upsertFromConcur(
            [record('B'), record('A', { firstName: 'Changed' }), record('C', { lastModified: 'not a time' })],
            harness.clock.advance(1000),
          ),
        ),
      ).rejects.toThrow(RangeError);
      expect(await store.requests.get('B')).toBeUndefined();
      expect((await store.requests.get('A'))?.firstName).toBe('Ada');
      expect(await store.events.latestId()).toBe(latest);
    });

    it('keeps rows and their events together across a restart, and never announces a known request again', async () => {
      const { created } = await store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.iso());
      store = await harness.reopen();
      expect(await store.requests.get('A')).toEqual(created[0]);
      expect((await store.events.after(0, 10)).map((e) => e.type)).toEqual(['request.created', 'request.created']);

      const latest = await store.events.latestId();
      const again = await store.requests.upsertFromConcur([record('A'), record('B'), record('C')], harness.clock.advance(60_000));
      expect(again.created.map((r) => r.id)).toEqual(['C']);
      expect(again.updated).toEqual([]);
      expect((await store.events.after(latest, 10)).map((e) => [e.type, e.data])).toEqual([['request.created', again.created[0]]]);
    });

    it('compares an id that comes twice in one poll with what its first occurrence wrote', async () => {
      const { created, updated } = await store.requests.upsertFromConcur(
        [record('A'), record('A'), record('A', { firstName: 'Changed' })],
        harness.clock.iso(),
      );
      expect(created.map((r) => r.firstName)).toEqual(['Ada']);
      expect(updated.map((r) => r.firstName)).toEqual(['Changed']);
      expect(await store.requests.get('A')).toEqual(updated[0]);
      expect((await store.events.after(0, 10)).map((e) => e.type)).toEqual(['request.created', 'request.updated']);
    });

    it('announces each request once when two relays store the same poll at once', async () => {
      const other = await harness.store();
      const first = Array.from({ length: 30 }, (_, i) => record(`R${String(i).padStart(2, '0')}`));
      const results = await Promise.all([
        store.requests.upsertFromConcur(first, harness.clock.iso()),
        other.requests.upsertFromConcur([...first].reverse(), harness.clock.iso()),
      ]);
      expect(results.flatMap((r) => r.created.map((c) => c.id)).sort()).toEqual(first.map((r) => r.id));
      const changed = first.map((r) => ({ ...r, firstName: 'Grace' }));
      const again = await Promise.all([
        store.requests.upsertFromConcur(changed, harness.clock.advance(1000)),
        other.requests.upsertFromConcur(changed, harness.clock.iso()),
      ]);
      expect(again.flatMap((r) => r.updated.map((u) => u.id)).sort()).toEqual(first.map((r) => r.id));
      expect(again.flatMap((r) => r.created)).toEqual([]);
      const announced = (await store.events.after(0, 1000)).map((e) => `${e.type} ${e.type === 'request.created' || e.type === 'request.updated' ? e.data.id : ''}`);
      expect(announced.sort()).toEqual([...first.map((r) => `request.created ${r.id}`), ...first.map((r) => `request.updated ${r.id}`)].sort());
    });

    it('stores a poll larger than the poller’s group (250 requests) at once, and compares all of it on the next', async () => {
      const records = Array.from({ length: 250 }, (_, i) => record(`R${String(i).padStart(3, '0')}`));
      expect((await store.requests.upsertFromConcur(records, harness.clock.iso())).created).toHaveLength(250);
      const changed = records.map((r, i) => (i % 2 === 0 ? { ...r, firstName: 'Changed' } : r));
      const again = await store.requests.upsertFromConcur(changed, harness.clock.advance(1000));
      expect(again.created).toEqual([]);
      expect(again.updated).toHaveLength(125);
    });
  });

  describe('requests.list', () => {
    it('pages newest first, ties by id, with an opaque cursor, 10 + 10 + 3', async () => {
      await seed23(store, harness.clock);
      const pages: RequestsPage[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.requests.list({ limit: 10, cursor });
        RequestsPage.parse(page);
        pages.push(page);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);

      expect(pages.map((p) => p.items.length)).toEqual([10, 10, 3]);
      expect(pages[2]?.nextCursor).toBeNull();
      const ids = pages.flatMap((p) => p.items.map((r) => r.id));
      expect(ids.slice(0, 5)).toEqual(['R22', 'R21', 'R20', 'R19', 'R18']);
      expect(new Set(ids).size).toBe(23);
      const keys = pages.flatMap((p) => p.items.map((r) => `${r.lastModified}|${r.id}`));
      expect(keys).toEqual([...keys].sort().reverse());
    });

    it('ends with a null cursor when the last page is exactly full', async () => {
      await seed23(store, harness.clock);
      const first = await store.requests.list({ limit: 23 });
      expect(first.items).toHaveLength(23);
      expect(first.nextCursor).toBeNull();
      expect((await store.requests.list({ limit: 50 })).items).toHaveLength(23);
    });

    it('filters by group, and pages within it', async () => {
      await seed23(store, harness.clock);
      const failed = await store.requests.list({ group: 'failed', limit: 5 });
      expect(failed.items).toHaveLength(5);
      expect(failed.items.every((r) => r.group === 'failed')).toBe(true);
      const rest = await store.requests.list({ group: 'failed', limit: 5, cursor: failed.nextCursor ?? undefined });
      expect(rest.items.map((r) => r.group)).toEqual(['failed', 'failed', 'failed']);
      expect(rest.nextCursor).toBeNull();
      expect((await store.requests.list({ group: 'connected', limit: 50 })).items).toHaveLength(7);
      expect((await store.requests.list({ group: 'pending', limit: 50 })).items).toHaveLength(8);
    });

    it('rejects a garbled cursor with BadCursorError', async () => {
      await seed23(store, harness.clock);
      const good = (await store.requests.list({ limit: 10 })).nextCursor ?? '';
      const bad = [
        'not a cursor!',
        good.slice(0, -3),
        `${good}%%`,
        Buffer.from('{"a":1}').toString('base64url'),
        Buffer.from('["yesterday","R01"]').toString('base64url'),
        Buffer.from('["2024-05-01T00:00:00.000Z",""]').toString('base64url'),
      ];
      for (const cursor of bad) {
        await expect(attempt(() => store.requests.list({ limit: 10, cursor })), cursor).rejects.toThrow(BadCursorError);
      }
      await expect(attempt(() => store.requests.list({ limit: 10, cursor: encodeCursor('2024-05-01T00:05:00.000Z', 'R05') }))).resolves.toBeDefined();
    });

    it('rejects a cursor at a time that cannot exist, and takes every time that can', async () => {
      await seed23(store, harness.clock);
      for (const time of ['2024-13-01T00:00:00.000Z', '2024-04-31T00:00:00.000Z', '2023-02-29T00:00:00.000Z', '2024-05-01T24:00:00.000Z', '2024-05-01T23:59:60.000Z']) {
        await expect(attempt(() => store.requests.list({ limit: 10, cursor: encodeCursor(time, 'R05') })), time).rejects.toThrow(BadCursorError);
      }
      for (const time of ['2024-02-29T23:59:59.999Z', '2024-12-31T00:00:00.000Z', '0001-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z']) {
        await expect(attempt(() => store.requests.list({ limit: 10, cursor: encodeCursor(time, 'R05') })), time).resolves.toBeDefined();
      }
    });
  });

  describe('with replies', () => {
    it('counts a request a CREU code popped as failed until Concur (3.2) requeues it with a new token, then as pending again', async () => {
      await store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.iso());
      await store.replies.markSent((await store.replies.enqueue('A', 'CREU1', { actor: TESTER })).replyId);
      await store.replies.markSent((await store.replies.enqueue('B', 'CRRET', { actor: TESTER })).replyId);
      expect(await store.requests.counts()).toEqual({ pending: 1, failed: 1, connected: 0 });
      // The same token again changes nothing: the reply's code stands.
      await store.requests.upsertFromConcur([record('A', { lastModified: '2024-05-01T09:05:00Z' })], harness.clock.advance(60_000));
      expect(await store.requests.get('A')).toMatchObject({ status: 'CREU1', group: 'failed' });
      // A day later the queue hands it out again with a new token: the traveller may have fixed their data.
      const { updated } = await store.requests.upsertFromConcur(
        [record('A', { requestToken: 'requeued-token', lastModified: '2024-05-02T09:05:00Z' }), record('B', { requestToken: 'crret-token' })],
        harness.clock.advance(86_400_000),
      );
      expect(updated.map((r) => [r.id, r.status, r.group])).toEqual([['A', 'Pending', 'pending'], ['B', 'CRRET', 'pending']]);
      expect(await store.requests.counts()).toEqual({ pending: 2, failed: 0, connected: 0 });
    });

    it('announces exactly what getRequest reads back, also for requests with replies and retries', async () => {
      // The upsert builds its views from the rows it writes rather than reading them back: they must agree.
      await store.requests.upsertFromConcur([record('A'), record('B'), record('C')], harness.clock.iso());
      await store.replies.markSent((await store.replies.enqueue('A', 'CRRET', { actor: TESTER })).replyId);
      const { replyId } = await store.replies.enqueue('B', 'CRSUC', { actor: TESTER });
      await store.replies.markAttempt(replyId, { attempts: 1, nextAttemptAt: harness.clock.advance(5000), lastError: 'Concur is unavailable (503)' });

      const { created, updated } = await store.requests.upsertFromConcur(
        [
          record('A', { status: 'CRRET', lastModified: '2024-05-01T09:10:00Z', requestToken: 'new-token' }),
          record('B', { firstName: 'Grace', lastModified: null }),
          record('C'),
          record('D', { requestToken: null, lastModified: null }),
        ],
        harness.clock.advance(60_000),
      );
      expect(updated.map((r) => r.id)).toEqual(['A', 'B']);
      expect(created.map((r) => r.id)).toEqual(['D']);
      for (const view of [...updated, ...created]) {
        expect(view).toEqual(await store.requests.get(view.id));
        expect(z.strictObject(ConnectionRequest.shape).parse(view)).toEqual(view);
      }
      expect(updated[0]).toMatchObject({ retries: 1, reply: { status: 'CRRET', state: 'sent' } });
      expect(updated[1]).toMatchObject({ firstName: 'Grace', reply: { status: 'CRSUC', state: 'queued', attempts: 1 } });
    });

    it('never shows the request token in any API shape, event or list', async () => {
      const secret = 'secret-request-token-';
      await store.requests.upsertFromConcur([record('A'), record('B', { status: 'Processing' })], harness.clock.iso());
      await store.requests.upsertFromConcur([record('A', { requestToken: 'secret-request-token-new' })], harness.clock.advance(1000));
      await store.replies.enqueue('A', 'CRSUC', { actor: TESTER });
      const [due] = await store.replies.due(harness.clock.iso(), 10);
      if (due) await store.replies.markSent(due.id);

      const everything = JSON.stringify([
        await store.requests.get('A'),
        await store.requests.get('B'),
        await store.requests.list({ limit: 50 }),
        await store.requests.list({ group: 'connected', limit: 50 }),
        await store.events.after(0, 1000),
        await store.state.summary(),
      ]);
      expect(everything).not.toContain(secret);
      expect(everything).not.toMatch(/token"\s*:/i);
      expect(await store.requests.getRequestToken('A')).toBe('secret-request-token-new');
      expect(await store.requests.getRequestToken('missing')).toBeUndefined();
    });

    it('shows each request of a page with its latest reply, as getRequest does', async () => {
      const ids = await seed23(store, harness.clock);
      // R22 gets two replies (the latest counts), R21 one, the rest none; pages are chosen before the join.
      await store.replies.markFailed((await store.replies.enqueue('R22', 'CRSUC', { actor: TESTER })).replyId, 'Concur answered 400');
      await store.replies.enqueue('R22', 'CREU1', { actor: TESTER });
      await store.replies.enqueue('R21', 'CRSUC', { actor: TESTER });
      const pages = [await store.requests.list({ limit: 4 })];
      while (pages.at(-1)?.nextCursor) pages.push(await store.requests.list({ limit: 4, cursor: pages.at(-1)?.nextCursor ?? undefined }));
      const items = pages.flatMap((page) => page.items);
      expect(items.map((item) => item.id).sort()).toEqual([...ids].sort());
      for (const item of items) expect(item).toEqual(await store.requests.get(item.id));
      expect(items[0]?.reply).toMatchObject({ status: 'CREU1', state: 'queued' });
      expect(items[1]?.reply).toMatchObject({ status: 'CRSUC', state: 'queued' });
      expect(items.slice(2).every((item) => item.reply === null)).toBe(true);
    });
  });

  describe('counts', () => {
    it('counts requests by group', async () => {
      expect(await store.requests.counts()).toEqual({ pending: 0, failed: 0, connected: 0 });
      await store.requests.upsertFromConcur(
        [
          record('A'),
          record('B', { status: 'Processing' }),
          record('C', { status: 'CRPA1' }),
          record('D', { status: 'Failed' }),
          record('E', { status: 'Connected' }),
        ],
        harness.clock.iso(),
      );
      expect(await store.requests.counts()).toEqual({ pending: 2, failed: 2, connected: 1 });
      expect(await store.state.summary()).toEqual({
        counts: { pending: 2, failed: 2, connected: 1 },
        concur: { state: 'unknown', lastPollAt: null, lastSuccessAt: null, lastError: null },
        exchange: { state: 'ok', reason: null },
        autoConnect: { policy: 'off', directory: false },
      });
    });
  });
});

describe('stored times', () => {
  it('are one fixed UTC format, and a Concur time without a zone is read as UTC', () => {
    expect(toIso('2022-11-09T05:57:29')).toBe('2022-11-09T05:57:29.000Z');
    expect(toIso('2022-11-09T05:57:29.1234567Z')).toBe('2022-11-09T05:57:29.123Z');
    expect(toIso('2022-11-09T06:57:29+01:00')).toBe('2022-11-09T05:57:29.000Z');
    expect(toIso(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(() => toIso('yesterday')).toThrow(RangeError);
  });

  it('text already in the stored shape reads exactly as Date reads it, also days a month does not have', () => {
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
    const text = fc
      .tuple(fc.integer({ min: 0, max: 9999 }), two(13), two(32), two(24), two(60), two(60), fc.integer({ min: 0, max: 999 }))
      .map(([y, mo, d, h, mi, s, ms]) => `${String(y).padStart(4, '0')}-${mo}-${d}T${h}:${mi}:${s}.${String(ms).padStart(3, '0')}Z`);
    fc.assert(
      fc.property(text, (t) => {
        const date = new Date(t);
        if (Number.isNaN(date.getTime())) expect(() => toIso(t)).toThrow(RangeError);
        else expect(toIso(t)).toBe(date.toISOString());
      }),
      { numRuns: 2000 },
    );
    expect(toIso('2024-02-30T00:00:00.000Z')).toBe('2024-03-01T00:00:00.000Z');
  });
});
