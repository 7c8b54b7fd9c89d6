import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionRequest, Health } from '../../../shared/models.js';
import type { Db, Store } from '../../../relay/store/index.js';
import { type Answer, ApiServer, errorOf, expectNoSecrets, record } from './helpers.js';
import { withParts } from '../store/helpers.js';

/**
 * When the database cannot write — a full disk, a read-only file, I/O errors — the API says so
 * (503 storage_unavailable, Retry-After) instead of a generic 500, never answers 202 for a reply
 * it did not store, and /healthz answers 503 until writing works again.
 *
 * The failures are SQLite's own, on the store's own connection: `PRAGMA max_page_count` makes
 * SQLite raise SQLITE_FULL exactly as a full disk does; `PRAGMA query_only` and a read-only open
 * raise SQLITE_READONLY (chmod cannot: the tests may run as root).
 */

let s: ApiServer;
afterEach(async () => {
  expectNoSecrets(s);
  await s.stop();
});

const UNLIMITED_PAGES = 1_073_741_823;

/** A server whose store's connection the test holds. */
async function startHolding(): Promise<{ db: () => Db }> {
  let connection: Db | undefined;
  s = await new ApiServer().start({ store: { onOpen: (db) => (connection = db) } });
  return {
    db: () => {
      if (connection === undefined) throw new Error('the store did not hand over its connection');
      return connection;
    },
  };
}

function seed(count: number): string[] {
  const ids = Array.from({ length: count }, (_, i) => `R${String(i + 1).padStart(3, '0')}`);
  s.store.requests.upsertFromConcur(ids.map((id) => record(id)), s.clock.iso());
  return ids;
}

async function health(): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const answer = await s.get('/healthz', {});
  return { status: answer.status, body: Health.parse(answer.json) };
}

function expectStorageUnavailable(answer: Answer, reason: RegExp): void {
  expect(answer.status).toBe(503);
  const error = errorOf(answer);
  expect(error.code).toBe('storage_unavailable');
  expect(error.message).toMatch(reason);
  expect(error.message).toMatch(/nothing was accepted/);
  expect(error.message).toMatch(/try again/);
  expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(answer.text).not.toMatch(/SQLITE|sqlite|\n\s+at /);
}

const replyOf = async (id: string) => ConnectionRequest.parse((await s.get(`/api/v1/requests/${id}`)).json).reply;

describe('a full disk (SQLITE_FULL)', () => {
  it('answers 503 storage_unavailable to a reply it could not store, never 202; /healthz says so; both recover', async () => {
    const held = await startHolding();
    const ids = seed(200);
    expect(await health()).toEqual({ status: 200, body: { status: 'ok', poller: true } });

    // The file may not grow by a single page: as a full disk, SQLite raises SQLITE_FULL as soon as
    // a write needs one.
    const db = held.db();
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    expect(db.pragma('freelist_count', { simple: true })).toBe(0);

    // Replies fit into pages that still have room until one needs a new page.
    const accepted: string[] = [];
    let refused: { id: string; answer: Answer } | undefined;
    for (const id of ids) {
      const answer = await s.post(`/api/v1/requests/${id}/reply`, { status: 'CRSUC' });
      if (answer.status === 202) {
        accepted.push(id);
        continue;
      }
      refused = { id, answer };
      break;
    }
    expect(refused, 'no reply was refused: the disk never filled up').toBeDefined();
    const { id: refusedId, answer } = refused!;
    expectStorageUnavailable(answer, /disk is full/);

    // A 202 was only ever given for a stored reply, and the refused one left nothing behind.
    for (const id of accepted) expect(await replyOf(id), id).toMatchObject({ status: 'CRSUC', state: 'queued' });
    expect(await replyOf(refusedId)).toBeNull();
    expect(s.store.replies.pendingCount()).toBe(accepted.length);
    expect(s.kicks).toBe(accepted.length);

    const down = await health();
    expect(down.status).toBe(503);
    expect(down.body).toEqual({ status: 'unavailable', poller: true, reason: expect.stringMatching(/cannot write.*disk is full/) });
    // Reads still work: the list is served.
    expect((await s.get('/api/v1/requests?limit=5')).status).toBe(200);

    // Space is freed: both recover, without a restart.
    db.pragma(`max_page_count = ${UNLIMITED_PAGES}`);
    expect(await health()).toEqual({ status: 200, body: { status: 'ok', poller: true } });
    expect((await s.post(`/api/v1/requests/${refusedId}/reply`, { status: 'CRSUC' })).status).toBe(202);
    expect(await replyOf(refusedId)).toMatchObject({ status: 'CRSUC', state: 'queued' });
  });

  it('is noticed by /healthz before any write has failed', async () => {
    const held = await startHolding();
    seed(3);
    const db = held.db();
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    expect((await health()).status).toBe(503);
    db.pragma(`max_page_count = ${UNLIMITED_PAGES}`);
    expect((await health()).status).toBe(200);
  });

  it('answers 503 on the webhook routes too', async () => {
    const held = await startHolding();
    const db = held.db();
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    let answer: Answer | undefined;
    // Each subscription writes a webhook and its secret; sooner or later one needs a page.
    for (let i = 0; i < 100; i += 1) {
      answer = await s.post('/api/v1/webhooks', { url: `https://8.8.8.8/hooks/${i}`, events: ['request.created'] });
      if (answer.status !== 201) break;
    }
    expect(answer?.status).toBe(503);
    expectStorageUnavailable(answer!, /disk is full/);
  });
});

describe('a read-only database (SQLITE_READONLY)', () => {
  it('answers 503 storage_unavailable while the connection may not write; /healthz says so; both recover', async () => {
    const held = await startHolding();
    seed(2);
    held.db().pragma('query_only = ON');

    expectStorageUnavailable(await s.post('/api/v1/requests/R001/reply', { status: 'CRSUC' }), /read-only/);
    expect(await replyOf('R001')).toBeNull();
    expect(s.kicks).toBe(0);
    const down = await health();
    expect(down).toEqual({ status: 503, body: { status: 'unavailable', poller: true, reason: expect.stringMatching(/cannot write.*read-only/) } });

    held.db().pragma('query_only = OFF');
    expect(await health()).toEqual({ status: 200, body: { status: 'ok', poller: true } });
    expect((await s.post('/api/v1/requests/R001/reply', { status: 'CRSUC' })).status).toBe(202);
  });

  it('serves reads from a file opened read-only, refuses writes with 503, and /healthz says so before any write', async () => {
    s = await new ApiServer().start();
    seed(2);
    await s.restart({ store: { readonly: true } });

    const down = await health();
    expect(down).toEqual({ status: 503, body: { status: 'unavailable', poller: true, reason: expect.stringMatching(/read-only/) } });
    expect(ConnectionRequest.parse((await s.get('/api/v1/requests/R001')).json).id).toBe('R001');
    expectStorageUnavailable(await s.post('/api/v1/requests/R001/reply', { status: 'CRSUC' }), /read-only/);

    // Writable again (the file's permissions fixed, the relay restarted).
    await s.restart();
    expect(await health()).toEqual({ status: 200, body: { status: 'ok', poller: true } });
    expect((await s.post('/api/v1/requests/R001/reply', { status: 'CRSUC' })).status).toBe(202);
  });
});

describe('I/O errors (SQLITE_IOERR)', () => {
  it('answer 503 storage_unavailable, without SQLite’s message', async () => {
    let failing = true;
    const ioError = () => new Database.SqliteError('disk I/O error at /var/lib/relay/secret-path.sqlite', 'SQLITE_IOERR_WRITE');
    s = await new ApiServer().start({
      wrap: (store: Store) =>
        withParts(store, {
          replies: {
            enqueue: (...args) => {
              if (failing) throw ioError();
              return store.replies.enqueue(...args);
            },
          },
        }),
    });
    seed(1);
    const answer = await s.post('/api/v1/requests/R001/reply', { status: 'CRSUC' });
    expectStorageUnavailable(answer, /I\/O error/);
    expect(answer.text).not.toContain('secret-path');
    failing = false;
    expect((await s.post('/api/v1/requests/R001/reply', { status: 'CRSUC' })).status).toBe(202);
  });
});
