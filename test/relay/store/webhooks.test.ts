import { afterEach, describe, expect, it } from 'vitest';
import type { Actor } from '../../../relay/store/index.js';
import { StoreHarness } from './helpers.js';

/** Webhook changes and their audit lines: one transaction, so neither exists without the other. */

const ADA: Actor = { keyId: 'key_ada', name: 'Ada' };
let harness: StoreHarness;
afterEach(() => harness.cleanup());

describe('webhooks in the store', () => {
  it('audits each change with who made it, never with a secret or the query of the URL', () => {
    harness = new StoreHarness();
    const store = harness.store();
    const { webhook, secret } = store.webhooks.create({ url: 'https://user:pw@hooks.example/in?token=t0k3n', events: ['reply.sent'] }, ADA);
    store.webhooks.update(webhook.id, { state: 'disabled' }, ADA);
    const rotated = store.webhooks.rotateSecret(webhook.id, ADA);
    expect(store.webhooks.remove(webhook.id, ADA)).toBe(true);
    expect(store.webhooks.remove(webhook.id, ADA)).toBe(false);
    const items = store.audit.list({ limit: 10 }).items;
    expect(items.map((entry) => [entry.action, entry.actor.name, entry.target])).toEqual([
      ['webhook.deleted', 'Ada', webhook.id],
      ['webhook.secret_rotated', 'Ada', webhook.id],
      ['webhook.updated', 'Ada', webhook.id],
      ['webhook.created', 'Ada', webhook.id],
    ]);
    expect(items[3]!.details).toEqual({ endpoint: 'https://hooks.example/in', events: ['reply.sent'] });
    const text = JSON.stringify(items);
    for (const hidden of [secret, rotated.secret, 't0k3n', 'pw@']) expect(text).not.toContain(hidden);
  });

  it('keeps no change whose audit line could not be written', () => {
    harness = new StoreHarness();
    const store = harness.storeWith({
      onOpen: (db) => db.exec("CREATE TEMP TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit refused'); END"),
    });
    expect(() => store.webhooks.create({ url: 'https://hooks.example/in', events: ['reply.sent'] }, ADA)).toThrow(/audit refused/);
    expect(store.webhooks.list()).toEqual([]);
  });
});
