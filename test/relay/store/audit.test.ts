import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { AuditEntry } from '../../../shared/people.js';
import { BadCursorError } from '../../../relay/store/index.js';
import { ADVISORY_LOCK } from '../../../relay/store/postgres/locks.js';
import { DATABASES, databasePerTest, type DatabaseHarness, type TestStore } from './databases.js';
import { record } from './helpers.js';

/** The audit trail: written with the change it records, newest first in pages, never changed. */

describe.each(DATABASES)('the audit trail ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));

  it('records who asked for each reply, in the transaction of the reply, and names them on the reply', async () => {
    await store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.iso());
    const alice = { keyId: 'key_alice', name: 'Alice' };
    const { reply, replyId } = await store.replies.enqueue('A', 'CRSUC', { actor: alice });
    expect(reply.requestedBy).toBe('Alice');
    expect((await store.requests.get('A'))?.reply?.requestedBy).toBe('Alice');
    const [entry] = (await store.audit.list({ limit: 5 })).items;
    expect(AuditEntry.parse(entry)).toEqual({
      id: entry!.id,
      at: harness.clock.iso(),
      actor: alice,
      action: 'reply.requested',
      target: 'A',
      details: { status: 'CRSUC', replyId },
    });
    // A refused reply (one is already on its way) leaves no audit line.
    await expect(Promise.resolve().then(() => store.replies.enqueue('A', 'CREU1', { actor: alice }))).rejects.toThrow();
    expect((await store.audit.list({ limit: 5 })).items).toHaveLength(1);
    // A repeat with the same Idempotency-Key is the same reply: no second line either.
    await store.replies.enqueue('B', 'CREU2', { actor: alice, idempotencyKey: 'k-1' });
    await store.replies.enqueue('B', 'CREU2', { actor: alice, idempotencyKey: 'k-1' });
    expect((await store.audit.list({ limit: 5 })).items.map((e) => e.target)).toEqual(['B', 'A']);
  });

  it('keeps each line as it was appended: who, what, on what, with its details', async () => {
    const actor = { keyId: 'key_alice', name: 'Alice' };
    const appended = await store.audit.append({ actor, action: 'webhook.updated', target: 'wh_1', details: { events: ['reply.sent'], description: null } });
    expect(AuditEntry.parse(appended)).toEqual({
      id: appended.id,
      at: harness.clock.iso(),
      actor,
      action: 'webhook.updated',
      target: 'wh_1',
      details: { events: ['reply.sent'], description: null },
    });
    store = await harness.reopen();
    expect((await store.audit.list({ limit: 5 })).items).toEqual([appended]);
  });

  it('pages newest first with an opaque cursor, and refuses a cursor it did not make', async () => {
    const actor = { keyId: null, name: 'cli' };
    for (let i = 0; i < 7; i++) {
      harness.clock.advance(1000);
      await store.audit.append({ actor, action: 'key.created', target: `key_${i}` });
    }
    const first = await store.audit.list({ limit: 3 });
    expect(first.items.map((e) => e.target)).toEqual(['key_6', 'key_5', 'key_4']);
    const second = await store.audit.list({ limit: 3, cursor: first.nextCursor! });
    expect(second.items.map((e) => e.target)).toEqual(['key_3', 'key_2', 'key_1']);
    const last = await store.audit.list({ limit: 3, cursor: second.nextCursor! });
    expect(last).toMatchObject({ items: [{ target: 'key_0', details: null }], nextCursor: null });
    for (const bad of ['x', 'a.', 'a.0', 'a.-1', 'a.1e3', `${first.nextCursor}0000000000000000`]) {
      await expect(Promise.resolve().then(() => store.audit.list({ limit: 3, cursor: bad })), bad).rejects.toThrow(BadCursorError);
    }
  });
});

describe('the audit trail on PostgreSQL, written by several relays', () => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(DATABASES.find((d) => d.kind === 'postgres')!, (h, s) => ((harness = h), (store = s)));

  it('keeps every line of relays appending at once, each once', async () => {
    const relays = [store, await harness.store(), await harness.store()];
    await Promise.all(
      relays.map(async (relay, r) => {
        for (let i = 0; i < 10; i++) await relay.audit.append({ actor: { keyId: null, name: `relay ${r}` }, action: 'key.created', target: `${r}.${i}` });
      }),
    );
    const seen: string[] = [];
    let page = await store.audit.list({ limit: 7 });
    for (;;) {
      seen.push(...page.items.map((e) => e.target!));
      if (page.nextCursor === null) break;
      page = await store.audit.list({ limit: 7, cursor: page.nextCursor });
    }
    expect(seen).toHaveLength(30);
    expect(new Set(seen).size).toBe(30);
    // Each relay's own lines, newest first, in the order it appended them.
    for (let r = 0; r < 3; r++) expect(seen.filter((t) => t.startsWith(`${r}.`))).toEqual(Array.from({ length: 10 }, (_, i) => `${r}.${9 - i}`));
  });

  it('appends after a line another relay has not committed yet, so ids follow the order of commits and no page skips one', async () => {
    const other = new pg.Client({ connectionString: await harness.url() });
    await other.connect();
    try {
      // Another relay in the middle of a transaction that appends (it holds the appends' lock).
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCK.events]);
      const appended = Promise.resolve(store.audit.append({ actor: { keyId: null, name: 'this relay' }, action: 'key.created', target: 'second' }));
      // Until this relay's append has finished, or waits for that lock.
      await Promise.race([appended, lockWaited(other)]);
      await other.query("INSERT INTO audit (at, actor_name, action, target) VALUES (now(), 'other relay', 'key.created', 'first')");
      await other.query('COMMIT');
      await appended;
    } finally {
      await other.end();
    }
    expect((await store.audit.list({ limit: 5 })).items.map((e) => e.target)).toEqual(['second', 'first']);
  });
});

/** Resolves once some session waits for an advisory lock. */
async function lockWaited(client: pg.Client): Promise<void> {
  for (;;) {
    const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
    if (rows[0]!.n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
