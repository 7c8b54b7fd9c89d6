import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { ConnectionRequest, ReplyResponse, RequestsPage, Summary } from '../../../../shared/models.js';
import { REPLY_CODES } from '../../../../shared/status.js';
import { connectSse } from '../../../helpers/sse-client.js';
import { type Answer, ApiServer, AUTH, errorOf, expectNoSecrets, record, TOKEN_MARK } from '../helpers.js';
import { TESTER } from '../../store/helpers.js';

let s: ApiServer;
beforeEach(async () => {
  s = await new ApiServer().start();
});
afterEach(async () => {
  expectNoSecrets(s);
  await s.stop();
});

/** Seven requests across the groups, lastModified one minute apart (R1 oldest … R7 newest). */
function seed(): void {
  const statuses = ['Pending', 'Processing', 'CREU1', 'Failed', 'CRSUC', 'Connected', 'Pending'] as const;
  s.store.requests.upsertFromConcur(
    statuses.map((status, i) =>
      record(`R${i + 1}`, { status, lastModified: `2024-05-01T09:0${i}:00Z`, firstName: `Traveller${i + 1}` }),
    ),
    s.clock.iso(),
  );
}

const replyRows = () => {
  const counts = s.store.replies.counts();
  return counts.queued + counts.sent + counts.failed;
};

describe('GET /api/v1/summary', () => {
  it('answers the counts and the Concur state as Summary', async () => {
    seed();
    const answer = await s.get('/api/v1/summary');
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const summary = Summary.parse(answer.json);
    expect(summary.counts).toEqual({ pending: 3, failed: 2, connected: 2 });
    expect(summary.concur.state).toBe('unknown');
  });
});

describe('GET /api/v1/requests', () => {
  it('lists every request, newest lastModified first, default limit 50, no cursor at the end', async () => {
    seed();
    const answer = await s.get('/api/v1/requests');
    expect(answer.status).toBe(200);
    const page = RequestsPage.parse(answer.json);
    expect(page.items.map((r) => r.id)).toEqual(['R7', 'R6', 'R5', 'R4', 'R3', 'R2', 'R1']);
    expect(page.nextCursor).toBeNull();
  });

  it('shows exactly the ConnectionRequest fields (no request token, no extras)', async () => {
    seed();
    const answer = await s.get('/api/v1/requests?limit=1');
    const [item] = (answer.json as { items: Array<Record<string, unknown>> }).items;
    expect(Object.keys(item ?? {}).sort()).toEqual(Object.keys(ConnectionRequest.shape).sort());
    expect(answer.text).not.toContain(TOKEN_MARK);
  });

  it('filters by group', async () => {
    seed();
    const groups = { pending: ['R7', 'R2', 'R1'], failed: ['R4', 'R3'], connected: ['R6', 'R5'] };
    for (const [group, ids] of Object.entries(groups)) {
      const page = RequestsPage.parse((await s.get(`/api/v1/requests?group=${group}`)).json);
      expect(page.items.map((r) => r.id)).toEqual(ids);
      expect(page.items.every((r) => r.group === group)).toBe(true);
    }
  });

  it('pages with limit and nextCursor through everything, once each', async () => {
    seed();
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `/api/v1/requests?limit=3${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const page = RequestsPage.parse((await s.get(query)).json);
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((r) => r.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(['R7', 'R6', 'R5', 'R4', 'R3', 'R2', 'R1']);
  });

  it('names the next page in a Link header (rel="next"): group, limit and the same cursor; none on the last page', async () => {
    seed();
    const seen: string[] = [];
    let path: string | null = '/api/v1/requests?limit=1&group=pending';
    const links: string[] = [];
    while (path !== null && seen.length < 10) {
      const answer = await s.get(path);
      const page = RequestsPage.parse(answer.json);
      seen.push(...page.items.map((r) => r.id));
      const link = answer.headers.get('link');
      if (page.nextCursor === null) {
        expect(link).toBeNull();
        path = null;
      } else {
        const target = /^<([^>]+)>; rel="next"$/.exec(link ?? '')?.[1];
        expect(target).toBeDefined();
        // Resolved against the page's own address (a query-only reference: same path).
        const url: URL = new URL(target!, `${s.url}${path}`);
        expect(url.pathname).toBe('/api/v1/requests');
        expect([...url.searchParams]).toEqual([
          ['group', 'pending'],
          ['limit', '1'],
          ['cursor', page.nextCursor],
        ]);
        links.push(target!);
        path = `${url.pathname}${url.search}`;
      }
    }
    expect(seen).toEqual(['R7', 'R2', 'R1']);
    expect(links).toHaveLength(2);
    // Without a group: every request, limit as given (or the default).
    const all = await s.get('/api/v1/requests');
    expect(all.headers.get('link')).toBeNull();
    const [, target] = /^<([^>]+)>; rel="next"$/.exec((await s.get('/api/v1/requests?limit=4')).headers.get('link') ?? '') ?? [];
    expect([...new URL(target ?? '', `${s.url}/api/v1/requests?limit=4`).searchParams.keys()]).toEqual(['limit', 'cursor']);
  });

  it.each([
    ['group=bogus', 'query parameter group', ['pending', 'failed', 'connected']],
    ['group=', 'query parameter group', ['pending', 'failed', 'connected']],
    ['limit=0', 'query parameter limit', ['1', '200']],
    ['limit=201', 'query parameter limit', ['1', '200']],
    ['limit=abc', 'query parameter limit', ['1', '200']],
    ['limit=2.5', 'query parameter limit', ['1', '200']],
    ['limit=-1', 'query parameter limit', ['1', '200']],
    // Only plain decimal digits: Number() would read each of these as a whole number.
    ['limit=0x10', 'query parameter limit', ['digits', '1', '200']],
    ['limit=1e1', 'query parameter limit', ['digits', '1', '200']],
    ['limit=%2010', 'query parameter limit', ['digits', '1', '200']],
    ['limit=10%20', 'query parameter limit', ['digits', '1', '200']],
    ['limit=+10', 'query parameter limit', ['digits', '1', '200']],
    ['limit=%2B10', 'query parameter limit', ['digits', '1', '200']],
    ['limit=10.0', 'query parameter limit', ['digits', '1', '200']],
    ['limit=0b11', 'query parameter limit', ['digits', '1', '200']],
    ['limit=', 'query parameter limit', ['digits', '1', '200']],
    ['cursor=', 'query parameter cursor', ['nextCursor']],
  ])('refuses %s with 400 invalid_request naming the field and what is valid', async (query, field, valid) => {
    seed();
    const answer = await s.get(`/api/v1/requests?${query}`);
    expect(answer.status).toBe(400);
    const error = errorOf(answer);
    expect(error.code).toBe('invalid_request');
    expect(error.message).toContain(field);
    for (const word of valid) expect(error.message).toContain(word);
    expect(error.details).toEqual([expect.objectContaining({ in: 'query', field: field.split(' ').pop() })]);
  });

  it('reads limit as plain decimal digits, leading zeros included', async () => {
    seed();
    const answer = await s.get('/api/v1/requests?limit=007');
    expect(answer.status).toBe(200);
    expect(RequestsPage.parse(answer.json).items).toHaveLength(7);
    expect((await s.get('/api/v1/requests?limit=3')).headers.get('link')).toMatch(/limit=3&/);
  });

  it.each([
    ['not base64 at all', '!!!'],
    ['base64 of something else', Buffer.from('{"a":1}').toString('base64url')],
    ['a damaged cursor', Buffer.from(JSON.stringify(['yesterday', 'R1'])).toString('base64url')],
    ...[
      ['month 13', '2024-13-01T09:00:00.000Z'],
      ['month 0', '2024-00-10T09:00:00.000Z'],
      ['day 32', '2024-05-32T09:00:00.000Z'],
      ['30 February', '2024-02-30T09:00:00.000Z'],
      ['29 February of a common year', '2023-02-29T09:00:00.000Z'],
      ['hour 25', '2024-05-01T25:00:00.000Z'],
      ['hour 24', '2024-05-01T24:00:00.000Z'],
      ['minute 60', '2024-05-01T09:60:00.000Z'],
      ['second 60', '2024-05-01T09:00:60.000Z'],
    ].map(([name, time]): [string, string] => [`a cursor at an impossible time (${name})`, Buffer.from(JSON.stringify([time, 'R1'])).toString('base64url')]),
  ])('refuses %s as cursor with 400 bad_cursor', async (_name, cursor) => {
    seed();
    const answer = await s.get(`/api/v1/requests?cursor=${encodeURIComponent(cursor)}`);
    expect(answer.status).toBe(400);
    const error = errorOf(answer);
    expect(error.code).toBe('bad_cursor');
    expect(error.message).toMatch(/nextCursor/);
  });
});

describe('GET /api/v1/requests between changes (its answers are kept until the store changes)', () => {
  const list = async (query = '') => RequestsPage.parse((await s.get(`/api/v1/requests${query}`)).json);

  it('shows every change the store commits at once: new and changed requests, replies and their attempts', async () => {
    seed();
    expect((await list('?group=pending')).items.map((r) => r.id)).toEqual(['R7', 'R2', 'R1']);
    s.store.requests.upsertFromConcur([record('R8', { lastModified: '2024-05-01T09:30:00Z' })], s.clock.iso());
    expect((await list('?group=pending')).items.map((r) => r.id)).toEqual(['R8', 'R7', 'R2', 'R1']);

    s.store.requests.upsertFromConcur([record('R8', { lastModified: '2024-05-01T09:30:00Z', firstName: 'Grace' })], s.clock.iso());
    expect((await list('?group=pending&limit=1')).items[0]?.firstName).toBe('Grace');

    const { replyId } = s.store.replies.enqueue('R8', 'CRSUC', { actor: TESTER });
    expect((await list('?group=pending&limit=1')).items[0]?.reply).toMatchObject({ state: 'queued', attempts: 0 });
    s.store.replies.markAttempt(replyId, { attempts: 1, nextAttemptAt: s.clock.advance(5000), lastError: 'Concur is unavailable (503)' });
    expect((await list('?group=pending&limit=1')).items[0]?.reply).toMatchObject({ attempts: 1, lastError: 'Concur is unavailable (503)' });
    s.store.replies.markSent(replyId);
    expect((await list('?group=pending')).items.map((r) => r.id)).toEqual(['R7', 'R2', 'R1']);
    expect((await list('?group=connected&limit=1')).items[0]).toMatchObject({ id: 'R8', status: 'CRSUC', reply: { state: 'sent' } });
  });

  it('keeps each query apart: group, limit and cursor', async () => {
    seed();
    const first = await list('?limit=2');
    const second = await list(`?limit=2&cursor=${encodeURIComponent(first.nextCursor ?? '')}`);
    expect(first.items.map((r) => r.id)).toEqual(['R7', 'R6']);
    expect(second.items.map((r) => r.id)).toEqual(['R5', 'R4']);
    expect((await list('?limit=3')).items.map((r) => r.id)).toEqual(['R7', 'R6', 'R5']);
    expect((await list('?group=failed&limit=2')).items.map((r) => r.id)).toEqual(['R4', 'R3']);
    expect((await list('?limit=2')).items.map((r) => r.id)).toEqual(['R7', 'R6']);
  });

  it('shows what another connection commits to the database file', async () => {
    seed();
    expect((await list('?limit=1')).items[0]?.firstName).toBe('Traveller7');
    const other = new Database(s.dbPath);
    try {
      other.prepare("UPDATE requests SET first_name = 'Edited elsewhere' WHERE id = 'R7'").run();
    } finally {
      other.close();
    }
    expect((await list('?limit=1')).items[0]?.firstName).toBe('Edited elsewhere');
  });

  it('answers exactly the shared models, replies included', async () => {
    seed();
    s.store.replies.markFailed(s.store.replies.enqueue('R1', 'CRSUC', { actor: TESTER }).replyId, 'Concur answered 400');
    s.store.replies.enqueue('R2', 'CREU1', { actor: TESTER });
    const page = z.strictObject(RequestsPage.shape).parse((await s.get('/api/v1/requests?limit=200')).json);
    for (const item of page.items) {
      expect(z.strictObject(ConnectionRequest.shape).parse(item)).toEqual(item);
      if (item.reply !== null) expect(Object.keys(item.reply).sort()).toEqual(['attempts', 'lastError', 'requestedBy', 'state', 'status', 'updatedAt']);
      const one = await s.get(`/api/v1/requests/${item.id}`);
      expect(z.strictObject(ConnectionRequest.shape).parse(one.json)).toEqual(item);
    }
    expect(page.items.filter((item) => item.reply !== null).map((item) => item.id)).toEqual(['R2', 'R1']);
  });
});

describe('Relay-Event-Id: where a list or summary stands in the live events', () => {
  const eventId = (answer: Answer) => Number(answer.headers.get('relay-event-id'));
  const READS = ['/api/v1/summary', '/api/v1/requests?group=pending&limit=2', '/api/v1/requests'] as const;

  it('is the latest event id when the answer was read, on the summary and on every list page', async () => {
    expect((await s.get('/api/v1/summary')).headers.get('relay-event-id')).toBe('0');
    seed();
    const latest = s.store.events.latestId();
    expect(latest).toBeGreaterThan(0);
    for (const path of READS) expect(eventId(await s.get(path)), path).toBe(latest);
    const first = await s.get('/api/v1/requests?limit=2');
    const cursor = encodeURIComponent(RequestsPage.parse(first.json).nextCursor ?? '');
    expect(eventId(await s.get(`/api/v1/requests?limit=2&cursor=${cursor}`))).toBe(latest);
  });

  it('moves with a kept answer: a change brings both the new page and the new id', async () => {
    seed();
    const before = await s.get('/api/v1/requests?group=pending');
    expect(eventId(await s.get('/api/v1/requests?group=pending'))).toBe(eventId(before));
    s.store.requests.upsertFromConcur([record('R8', { lastModified: '2024-05-01T09:30:00Z' })], s.clock.iso());
    const after = await s.get('/api/v1/requests?group=pending');
    expect(RequestsPage.parse(after.json).items[0]?.id).toBe('R8');
    expect(eventId(after)).toBe(s.store.events.latestId());
    expect(eventId(after)).toBeGreaterThan(eventId(before));
  });

  it('resumed as Last-Event-ID, the stream brings exactly what the answer does not show', async () => {
    seed();
    const list = await s.get('/api/v1/requests?group=pending');
    expect(RequestsPage.parse(list.json).items.map((r) => r.id)).not.toContain('R8');
    s.store.requests.upsertFromConcur([record('R8', { lastModified: '2024-05-01T09:30:00Z', firstName: 'Grace' })], s.clock.iso());
    const stream = await connectSse(`${s.url}/api/v1/events`, { ...AUTH, 'Last-Event-ID': String(eventId(list)) });
    try {
      const [created] = await stream.waitForMessages(1);
      expect(created?.event).toBe('request.created');
      expect(ConnectionRequest.parse(JSON.parse(created?.data ?? '')).id).toBe('R8');
      // Nothing the list already showed comes again: the first event is the one after its id.
      expect(Number(created?.id)).toBe(eventId(list) + 1);
    } finally {
      stream.close();
    }
  });
});

describe('GET /api/v1/requests/:id', () => {
  it('answers one ConnectionRequest', async () => {
    seed();
    const answer = await s.get('/api/v1/requests/R3');
    expect(answer.status).toBe(200);
    const request = ConnectionRequest.parse(answer.json);
    expect(request).toMatchObject({ id: 'R3', status: 'CREU1', group: 'failed', firstName: 'Traveller3', reply: null });
    expect(request.requestTokenExpiresAt).toBe('2024-05-01T10:15:00.000Z');
  });

  it('answers 404 not_found for an unknown id', async () => {
    seed();
    const answer = await s.get('/api/v1/requests/NOPE');
    expect(answer.status).toBe(404);
    expect(errorOf(answer)).toMatchObject({ code: 'not_found', message: expect.stringContaining('NOPE') });
  });
});

describe('POST /api/v1/requests/:id/reply', () => {
  it('queues the reply, answers 202 {reply}, and wakes the outbox once', async () => {
    seed();
    const answer = await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' });
    expect(answer.status).toBe(202);
    const { reply } = ReplyResponse.parse(answer.json);
    expect(reply).toMatchObject({ status: 'CRSUC', state: 'queued', attempts: 0, lastError: null });
    expect(s.kicks).toBe(1);
    expect(s.store.requests.get('R1')?.reply).toEqual(reply);
    expect(s.store.replies.due(s.clock.iso(), 10)).toHaveLength(1);
    // The request itself shows the queued reply.
    const request = ConnectionRequest.parse((await s.get('/api/v1/requests/R1')).json);
    expect(request.reply).toEqual(reply);
  });

  it('answers 422 exchange_unavailable to a CRSUC while the relay cannot exchange request tokens; other codes go on', async () => {
    seed();
    s.store.state.setExchangeStatus({ state: 'unavailable', reason: 'CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET are not set' });
    const refused = await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' });
    expect(refused.status).toBe(422);
    expect(errorOf(refused)).toMatchObject({ code: 'exchange_unavailable', message: expect.stringContaining('CONCUR_CLIENT_ID') });
    expect(s.store.replies.pendingCount()).toBe(0);
    expect(s.kicks).toBe(0);
    expect((await s.post('/api/v1/requests/R1/reply', { status: 'CRRET' })).status).toBe(202);
    // Still 404 for a request it does not know.
    expect((await s.post('/api/v1/requests/NOPE/reply', { status: 'CRSUC' })).status).toBe(404);
  });

  it('wakes the outbox only after the reply is in the database', async () => {
    await s.stop();
    let seenByKick: unknown = 'not called';
    s = new ApiServer();
    await s.start({
      deps: {
        outbox: {
          kick: () => {
            seenByKick = s.store.replies.due(s.clock.iso(), 10).map((r) => r.status);
          },
        },
      },
    });
    seed();
    expect((await s.post('/api/v1/requests/R2/reply', { status: 'CREU2' })).status).toBe(202);
    expect(seenByKick).toEqual(['CREU2']);
  });

  it('still answers 202 when waking the outbox throws (the reply is stored)', async () => {
    await s.stop();
    s = new ApiServer();
    await s.start({
      deps: {
        outbox: {
          kick: () => {
            throw new Error('outbox not running');
          },
        },
      },
    });
    seed();
    const answer = await s.post('/api/v1/requests/R2/reply', { status: 'CREU2' });
    expect(answer.status).toBe(202);
    expect(s.store.replies.pendingCount()).toBe(1);
  });

  it('accepts every reply code', async () => {
    s.store.requests.upsertFromConcur(
      REPLY_CODES.map((_code, i) => record(`Q${i}`)),
      s.clock.iso(),
    );
    for (const [i, code] of REPLY_CODES.entries()) {
      const answer = await s.post(`/api/v1/requests/Q${i}/reply`, { status: code });
      expect(answer.status, code).toBe(202);
      expect(ReplyResponse.parse(answer.json).reply.status).toBe(code);
    }
    expect(s.kicks).toBe(REPLY_CODES.length);
  });

  it('answers a repeat with the same Idempotency-Key with the same reply: one row, one kick', async () => {
    seed();
    const key = 'b7d1c7a2-0f7e-4c55-9a36-5f2b8d0c6e11';
    const first = await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, { 'Idempotency-Key': key });
    const second = await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, { 'Idempotency-Key': key });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.json).toEqual(first.json);
    expect(replyRows()).toBe(1);
    expect(s.kicks).toBe(1);

    // Still the same after the reply went out (no 409 in flight, no second row).
    const [queued] = s.store.replies.due(s.clock.iso(), 1);
    s.store.replies.markSent(queued?.id ?? -1);
    const third = await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, { 'Idempotency-Key': key });
    expect(third.status).toBe(202);
    expect(ReplyResponse.parse(third.json).reply.state).toBe('sent');
    expect(replyRows()).toBe(1);
    expect(s.kicks).toBe(1);
  });

  it('answers 422 idempotency_mismatch for a key reused with another body or request', async () => {
    seed();
    const key = 'key-1';
    expect((await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, { 'Idempotency-Key': key })).status).toBe(202);
    const otherBody = await s.post('/api/v1/requests/R1/reply', { status: 'CREU1' }, { 'Idempotency-Key': key });
    expect(otherBody.status).toBe(422);
    expect(errorOf(otherBody).code).toBe('idempotency_mismatch');
    const otherRequest = await s.post('/api/v1/requests/R2/reply', { status: 'CRSUC' }, { 'Idempotency-Key': key });
    expect(otherRequest.status).toBe(422);
    expect(replyRows()).toBe(1);
    expect(s.kicks).toBe(1);
  });

  it('answers 409 reply_in_flight while another reply for the request is queued', async () => {
    seed();
    expect((await s.post('/api/v1/requests/R1/reply', { status: 'CREU1' })).status).toBe(202);
    const answer = await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' });
    expect(answer.status).toBe(409);
    expect(errorOf(answer).code).toBe('reply_in_flight');
    expect(errorOf(answer).message).toMatch(/still on its way/);
    expect(replyRows()).toBe(1);
    expect(s.kicks).toBe(1);
  });

  it('answers 409 retry_limit for CRRET once Concur’s 5 retries are used', async () => {
    seed();
    for (let i = 0; i < 5; i += 1) {
      const { replyId } = s.store.replies.enqueue('R1', 'CRRET', { actor: TESTER });
      s.store.replies.markSent(replyId);
    }
    expect(s.store.requests.get('R1')?.retries).toBe(5);
    const answer = await s.post('/api/v1/requests/R1/reply', { status: 'CRRET' });
    expect(answer.status).toBe(409);
    expect(errorOf(answer)).toMatchObject({ code: 'retry_limit', message: expect.stringContaining('5') });
    expect(replyRows()).toBe(5);
    expect(s.kicks).toBe(0);
    // Another code is still fine.
    expect((await s.post('/api/v1/requests/R1/reply', { status: 'CREU3' })).status).toBe(202);
  });

  it('under API 3.2 answers 409 retry_limit for the 49th CRRET and the 5th CREU code, with the reason, and shows the counts', async () => {
    await s.stop();
    s = await new ApiServer().start({ store: { apiVersion: '3.2' } });
    seed();
    for (const [status, times] of [['CRRET', 48], ['CREU2', 4]] as const) {
      for (let i = 0; i < times; i += 1) s.store.replies.markSent(s.store.replies.enqueue('R1', status, { actor: TESTER }).replyId);
    }
    const view = ConnectionRequest.parse((await s.get('/api/v1/requests/R1')).json);
    expect(view).toMatchObject({ retries: 48, retryLimit: 48, userErrors: 4, userErrorLimit: 4 });
    const crret = await s.post('/api/v1/requests/R1/reply', { status: 'CRRET' });
    expect(crret.status).toBe(409);
    expect(errorOf(crret)).toEqual({ code: 'retry_limit', message: 'this request has used all 48 retries (CRRET) that Concur allows; another would fail it for good' });
    const creu = await s.post('/api/v1/requests/R1/reply', { status: 'CREU3' });
    expect(creu.status).toBe(409);
    expect(errorOf(creu).message).toBe('this request was answered with a CREU code 4 times, all 4 that Concur requeues; another would fail it for good');
    expect(replyRows()).toBe(52);
    expect(s.kicks).toBe(0);
  });

  describe('refusals store nothing and wake nothing', () => {
    const big = (bytes: number) => JSON.stringify({ status: 'CRSUC', pad: 'x'.repeat(bytes) });

    it.each<[string, () => Promise<Answer>, number, string]>([
      ['malformed JSON', () => s.post('/api/v1/requests/R1/reply', '{"status":'), 400, 'invalid_json'],
      ['a status that is not a reply code', () => s.post('/api/v1/requests/R1/reply', { status: 'Connected' }), 400, 'invalid_request'],
      ['an unknown code', () => s.post('/api/v1/requests/R1/reply', { status: 'DONE' }), 400, 'invalid_request'],
      ['a lower-case code', () => s.post('/api/v1/requests/R1/reply', { status: 'crsuc' }), 400, 'invalid_request'],
      ['no status', () => s.post('/api/v1/requests/R1/reply', {}), 400, 'invalid_request'],
      ['an extra field', () => s.post('/api/v1/requests/R1/reply', { status: 'CRSUC', note: 'x' }), 400, 'invalid_request'],
      ['a JSON array', () => s.post('/api/v1/requests/R1/reply', ['CRSUC']), 400, 'invalid_request'],
      ['a JSON string', () => s.post('/api/v1/requests/R1/reply', '"CRSUC"'), 400, 'invalid_request'],
      ['an empty body', () => s.post('/api/v1/requests/R1/reply', ''), 400, 'invalid_json'],
      [
        'text/plain',
        () => s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, { 'Content-Type': 'text/plain' }),
        415,
        'unsupported_media_type',
      ],
      [
        'form data',
        () =>
          s.post('/api/v1/requests/R1/reply', 'status=CRSUC', {
            'Content-Type': 'application/x-www-form-urlencoded',
          }),
        415,
        'unsupported_media_type',
      ],
      [
        'a body without Content-Type',
        () => s.raw('POST', '/api/v1/requests/R1/reply', { ...AUTH }, [Buffer.from('{"status":"CRSUC"}')]),
        415,
        'unsupported_media_type',
      ],
      ['an unknown id', () => s.post('/api/v1/requests/NOPE/reply', { status: 'CRSUC' }), 404, 'not_found'],
      [
        'an Idempotency-Key over 255 characters',
        () => s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, { 'Idempotency-Key': 'k'.repeat(256) }),
        400,
        'invalid_request',
      ],
      [
        'a non-ASCII Idempotency-Key',
        () =>
          s.raw('POST', '/api/v1/requests/R1/reply', { ...AUTH, 'Content-Type': 'application/json', 'Idempotency-Key': Buffer.from('clé', 'utf8').toString('latin1') }, [
            Buffer.from('{"status":"CRSUC"}'),
          ]),
        400,
        'invalid_request',
      ],
      [
        '70 KiB with Content-Length',
        () => {
          const body = Buffer.from(big(70 * 1024));
          return s.raw(
            'POST',
            '/api/v1/requests/R1/reply',
            { ...AUTH, 'Content-Type': 'application/json', 'Content-Length': String(body.length) },
            [body],
          );
        },
        413,
        'payload_too_large',
      ],
      [
        '70 KiB chunked, without Content-Length',
        () => {
          const body = Buffer.from(big(70 * 1024));
          const chunks = Array.from({ length: 70 }, (_, i) => body.subarray(i * 1024, (i + 1) * 1024));
          chunks.push(body.subarray(70 * 1024));
          return s.raw('POST', '/api/v1/requests/R1/reply', { ...AUTH, 'Content-Type': 'application/json' }, chunks);
        },
        413,
        'payload_too_large',
      ],
    ])('%s', async (_name, send, status, code) => {
      seed();
      const answer = await send();
      expect(answer.status).toBe(status);
      const error = errorOf(answer);
      expect(error.code).toBe(code);
      expect(error.message.length).toBeGreaterThan(10);
      expect(replyRows()).toBe(0);
      expect(s.kicks).toBe(0);
      expect(s.store.requests.get('R1')?.reply).toBeNull();
    });

    it('lists the valid reply codes when the code is not one', async () => {
      seed();
      const error = errorOf(await s.post('/api/v1/requests/R1/reply', { status: 'Connected' }));
      expect(error.message).toContain('body field status');
      for (const code of REPLY_CODES) expect(error.message).toContain(code);
      expect(error.details).toEqual([expect.objectContaining({ in: 'body', field: 'status' })]);
    });

    it('names the header when the Idempotency-Key is wrong', async () => {
      seed();
      const error = errorOf(
        await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, { 'Idempotency-Key': 'k'.repeat(256) }),
      );
      expect(error.message).toMatch(/header Idempotency-Key: .*255/);
    });

    it('accepts a body just under the limit (chunked, read in full)', async () => {
      seed();
      // 64 KiB of JSON whitespace around a valid body: the limit counts bytes, not meaning.
      const body = Buffer.from(`${' '.repeat(64 * 1024 - 40)}{"status":"CRSUC"}`);
      expect(body.length).toBeLessThanOrEqual(64 * 1024);
      const chunks = Array.from({ length: 64 }, (_, i) => body.subarray(i * 1024, (i + 1) * 1024));
      const answer = await s.raw('POST', '/api/v1/requests/R1/reply', { ...AUTH, 'Content-Type': 'application/json' }, chunks);
      expect(answer.status).toBe(202);
      expect(s.kicks).toBe(1);
    });

    it('accepts application/json with a charset', async () => {
      seed();
      const answer = await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, {
        'Content-Type': 'application/json; charset=utf-8',
      });
      expect(answer.status).toBe(202);
    });
  });
});
