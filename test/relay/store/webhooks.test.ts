import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Actor } from '../../../relay/store/index.js';
import { DATABASES, databasePerTest, type DatabaseHarness, type TestStore } from './databases.js';

/** Webhook changes and their audit lines: one transaction, so neither exists without the other. */

const ADA: Actor = { keyId: 'key_ada', name: 'Ada' };

/** A trigger that refuses every audit line, as each database writes one. */
const REFUSE_AUDIT = {
  sqlite: ["CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit refused'); END"],
  postgres: [
    "CREATE FUNCTION no_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$",
    'CREATE TRIGGER no_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION no_audit()',
  ],
};

describe.each(DATABASES)('webhooks in the store ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));

  it('audits each change with who made it, never with a secret or the query of the URL', async () => {
    const { webhook, secret } = await store.webhooks.create({ url: 'https://user:pw@hooks.example/in?token=t0k3n', events: ['reply.sent'] }, ADA);
    await store.webhooks.update(webhook.id, { state: 'disabled' }, ADA);
    const rotated = await store.webhooks.rotateSecret(webhook.id, ADA);
    expect(await store.webhooks.remove(webhook.id, ADA)).toBe(true);
    expect(await store.webhooks.remove(webhook.id, ADA)).toBe(false);
    const items = (await store.audit.list({ limit: 10 })).items;
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

  it('keeps no change whose audit line could not be written', async () => {
    for (const sql of REFUSE_AUDIT[harness.kind]) await harness.execute(sql);
    await expect(Promise.resolve().then(() => store.webhooks.create({ url: 'https://hooks.example/in', events: ['reply.sent'] }, ADA))).rejects.toThrow(
      /audit refused/,
    );
    expect(await store.webhooks.list()).toEqual([]);
  });

  it('signs with the current secret and, for a day, the rotated ones; disabling says why and enabling forgets it', async () => {
    const { webhook, secret } = await store.webhooks.create({ url: 'https://hooks.example/in', events: ['reply.sent', 'reply.failed'], description: 'ops' }, ADA);
    expect(await store.webhooks.subscribers('reply.sent')).toEqual([webhook.id]);
    const rotated = await store.webhooks.rotateSecret(webhook.id, ADA);
    expect(await store.webhooks.signingSecrets(webhook.id, harness.clock.ms)).toEqual([rotated.secret, secret]);
    expect(await store.webhooks.signingSecrets(webhook.id, harness.clock.ms + 24 * 3600_000 + 1)).toEqual([rotated.secret]);

    expect(await store.webhooks.noteAttempt(webhook.id, false, harness.clock.ms)).toBe(harness.clock.iso());
    expect(await store.webhooks.noteAttempt(webhook.id, false, harness.clock.ms + 5000)).toBe(harness.clock.iso());
    const disabled = await store.webhooks.disable(webhook.id, 'failing for 5 days');
    expect(disabled).toMatchObject({ state: 'disabled', disabledReason: 'failing for 5 days', description: 'ops' });
    expect(await store.webhooks.subscribers('reply.sent')).toEqual([]);
    expect(await store.webhooks.update(webhook.id, { state: 'enabled', description: '' }, ADA)).toMatchObject({ state: 'enabled', disabledReason: null, description: null });
    expect(await store.webhooks.noteAttempt(webhook.id, true, harness.clock.ms)).toBeNull();
  });
});

describe('webhooks on PostgreSQL, changed by several relays', () => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(DATABASES.find((d) => d.kind === 'postgres')!, (h, s) => ((harness = h), (store = s)));

  it('rotations through two relays at once take turns: one current secret, each earlier one retired', async () => {
    const other = await harness.store();
    const { webhook, secret } = await store.webhooks.create({ url: 'https://hooks.example/in', events: ['reply.sent'] }, ADA);
    const [a, b] = await whileLocked(harness, webhook.id, () => [store.webhooks.rotateSecret(webhook.id, ADA), other.webhooks.rotateSecret(webhook.id, ADA)]);
    const signing = await other.webhooks.signingSecrets(webhook.id, harness.clock.ms);
    expect(signing).toHaveLength(3);
    expect(signing.slice(1)).toContain(secret);
    // A day on, only the one current secret signs: the other rotation's secret was retired by the later one.
    expect(await store.webhooks.signingSecrets(webhook.id, harness.clock.ms + 24 * 3600_000 + 1)).toEqual([signing[0]]);
    expect([a!.secret, b!.secret]).toContain(signing[0]);
  });

  it('a webhook disabled by two relays at once is disabled once, with one reason', async () => {
    const other = await harness.store();
    const { webhook } = await store.webhooks.create({ url: 'https://hooks.example/in', events: ['reply.sent'] }, ADA);
    const heard: string[] = [];
    for (const relay of [store, other]) relay.webhooks.onDisabled((_id, reason) => heard.push(reason));
    await whileLocked(harness, webhook.id, () => [store.webhooks.disable(webhook.id, 'reason one'), other.webhooks.disable(webhook.id, 'reason two')]);
    expect(heard).toHaveLength(1);
    expect((await store.webhooks.get(webhook.id))?.disabledReason).toBe(heard[0]);
  });
});

/**
 * Runs the changes `start` begins while a third session holds the webhook's row, and lets it go
 * once both wait (or are done): so that they run at the same moment, not one after the other.
 */
async function whileLocked<T>(harness: DatabaseHarness, webhookId: string, start: () => Array<PromiseLike<T> | T>): Promise<T[]> {
  const holder = new pg.Client({ connectionString: await harness.url() });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM webhooks WHERE id = $1 FOR NO KEY UPDATE', [webhookId]);
    const changes = start().map((change) => Promise.resolve(change));
    await Promise.race([Promise.allSettled(changes), sessionsWaiting(holder, changes.length)]);
    await holder.query('COMMIT');
    return await Promise.all(changes);
  } finally {
    await holder.end();
  }
}

/** Resolves once `n` sessions of this database wait for a lock. */
async function sessionsWaiting(client: pg.Client, n: number): Promise<void> {
  for (;;) {
    const { rows } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (rows[0]!.n >= n) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
