import { describe, expect, it } from 'vitest';
import { AuditEntry } from '../../../shared/people.js';
import { BadCursorError, type Store } from '../../../relay/store/index.js';
import { record, storePerTest, type StoreHarness } from './helpers.js';

/** The audit trail: written with the change it records, newest first in pages, never changed. */

describe('the audit trail', () => {
  let harness: StoreHarness;
  let store: Store;
  storePerTest((h, s) => ((harness = h), (store = s)));

  it('records who asked for each reply, in the transaction of the reply, and names them on the reply', () => {
    store.requests.upsertFromConcur([record('A'), record('B')], harness.clock.iso());
    const alice = { keyId: 'key_alice', name: 'Alice' };
    const { reply, replyId } = store.replies.enqueue('A', 'CRSUC', { actor: alice });
    expect(reply.requestedBy).toBe('Alice');
    expect(store.requests.get('A')?.reply?.requestedBy).toBe('Alice');
    const [entry] = store.audit.list({ limit: 5 }).items;
    expect(AuditEntry.parse(entry)).toEqual({
      id: entry!.id,
      at: harness.clock.iso(),
      actor: alice,
      action: 'reply.requested',
      target: 'A',
      details: { status: 'CRSUC', replyId },
    });
    // A refused reply (one is already on its way) leaves no audit line.
    expect(() => store.replies.enqueue('A', 'CREU1', { actor: alice })).toThrow();
    expect(store.audit.list({ limit: 5 }).items).toHaveLength(1);
    // A repeat with the same Idempotency-Key is the same reply: no second line either.
    store.replies.enqueue('B', 'CREU2', { actor: alice, idempotencyKey: 'k-1' });
    store.replies.enqueue('B', 'CREU2', { actor: alice, idempotencyKey: 'k-1' });
    expect(store.audit.list({ limit: 5 }).items.map((e) => e.target)).toEqual(['B', 'A']);
  });

  it('pages newest first with an opaque cursor, and refuses a cursor it did not make', () => {
    const actor = { keyId: null, name: 'cli' };
    for (let i = 0; i < 7; i++) {
      harness.clock.advance(1000);
      store.audit.append({ actor, action: 'key.created', target: `key_${i}` });
    }
    const first = store.audit.list({ limit: 3 });
    expect(first.items.map((e) => e.target)).toEqual(['key_6', 'key_5', 'key_4']);
    const second = store.audit.list({ limit: 3, cursor: first.nextCursor! });
    expect(second.items.map((e) => e.target)).toEqual(['key_3', 'key_2', 'key_1']);
    const last = store.audit.list({ limit: 3, cursor: second.nextCursor! });
    expect(last).toMatchObject({ items: [{ target: 'key_0', details: null }], nextCursor: null });
    for (const bad of ['x', 'a.', 'a.0', 'a.-1', 'a.1e3', `${first.nextCursor}0000000000000000`]) {
      expect(() => store.audit.list({ limit: 3, cursor: bad }), bad).toThrow(BadCursorError);
    }
  });
});
