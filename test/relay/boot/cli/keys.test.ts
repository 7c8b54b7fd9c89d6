import { describe, expect, it } from 'vitest';
import { CLI_ACTOR, runKeysCommand, type KeysCommand } from '../../../../relay/boot/cli/keys.js';
import { databasePerTest, DATABASES, type DatabaseHarness, type TestStore } from '../../store/databases.js';

/** One keys command against a real store of either database: what it prints where, what it changes, its exit status. */

describe.each(DATABASES)('runKeysCommand ($name)', (database) => {
  let harness: DatabaseHarness;
  let store: TestStore;
  databasePerTest(database, (h, s) => ((harness = h), (store = s)));

  async function run(command: KeysCommand) {
    const out: string[] = [];
    const err: string[] = [];
    const status = await runKeysCommand(command, store.keys, { out: (l) => out.push(l), err: (l) => err.push(l) }, '/data/relay.sqlite');
    return { status, out, err };
  }

  it('create: the key alone on stdout, what was made on stderr, audited as the command line', async () => {
    const { status, out, err } = await run({ kind: 'keys.create', input: { name: 'Alice', role: 'replier' } });
    expect(status).toBe(0);
    expect(out).toHaveLength(1);
    const secret = out[0]!;
    expect(secret).toMatch(/^trl_[A-Za-z0-9_-]{43}$/);
    const key = (await store.keys.find(secret))!;
    expect(key).toMatchObject({ name: 'Alice', role: 'replier', prefix: secret.slice(0, 8), revokedAt: null });
    expect(err.join('\n')).toContain(`Made API key ${key.id} "Alice" (role replier, prefix ${key.prefix}) in /data/relay.sqlite.`);
    expect(err.join('\n')).toContain('shown only this once');
    expect(err.join('\n')).not.toContain(secret);
    const [entry] = (await store.audit.list({ limit: 1 })).items;
    expect(entry).toMatchObject({ action: 'key.created', actor: CLI_ACTOR, target: key.id });
    expect(CLI_ACTOR).toEqual({ keyId: null, name: 'cli' });
  });

  it('list: a table with prefixes and roles, never a key', async () => {
    const alice = (await run({ kind: 'keys.create', input: { name: 'Alice', role: 'replier' } })).out[0]!;
    const office = (await run({ kind: 'keys.create', input: { name: 'back office', role: 'broker' } })).out[0]!;
    const { status, out, err } = await run({ kind: 'keys.list' });
    expect(status).toBe(0);
    expect(err).toEqual([]);
    expect(out[0]).toMatch(/^ID +PREFIX +NAME +ROLE +LAST USED \(UTC\) +CREATED \(UTC\) +REVOKED \(UTC\)$/);
    expect(out).toHaveLength(3);
    expect(out.find((line) => line.includes(alice.slice(0, 8)))).toMatch(/ Alice +replier +never /);
    expect(out.find((line) => line.includes(office.slice(0, 8)))).toMatch(/ back office +broker +never /);
    for (const secret of [alice, office]) expect(out.join('\n')).not.toContain(secret.slice(8));
  });

  it('list: says on stderr that there are none yet, the table stays a table', async () => {
    const { status, out, err } = await run({ kind: 'keys.list' });
    expect(status).toBe(0);
    expect(out).toHaveLength(1);
    expect(err).toEqual(['No API keys in /data/relay.sqlite yet; make one with keys create --name "Alice" --role replier']);
  });

  it('revoke by prefix or id: the key is refused from then on, audited as the command line', async () => {
    const secret = (await run({ kind: 'keys.create', input: { name: 'Alice', role: 'replier' } })).out[0]!;
    const { id, prefix } = (await store.keys.find(secret))!;
    harness.clock.advance(1000);
    const { status, out, err } = await run({ kind: 'keys.revoke', idOrPrefix: prefix });
    expect(status).toBe(0);
    expect(err).toEqual([]);
    expect(out).toEqual([
      `Revoked API key ${id} "Alice" (role replier, prefix ${prefix}) at 2024-05-01 10:00:01 UTC; the relay refuses it from its next call.`,
    ]);
    expect((await store.keys.find(secret))?.revokedAt).toBe(harness.clock.iso());
    expect((await store.audit.list({ limit: 1 })).items[0]).toMatchObject({ action: 'key.revoked', actor: CLI_ACTOR, target: id });

    harness.clock.advance(1000);
    const again = await run({ kind: 'keys.revoke', idOrPrefix: id });
    expect(again.status).toBe(0);
    expect(again.out).toEqual([`API key ${id} "Alice" (role replier, prefix ${prefix}) was already revoked at 2024-05-01 10:00:01 UTC; nothing changed.`]);
  });

  it('revoke by the whole key, for a key that leaked', async () => {
    const secret = (await run({ kind: 'keys.create', input: { name: 'Alice', role: 'viewer' } })).out[0]!;
    const { status, out } = await run({ kind: 'keys.revoke', idOrPrefix: secret });
    expect(status).toBe(0);
    expect(out[0]).toMatch(/^Revoked API key key_/);
    expect(out[0]).not.toContain(secret);
    expect((await store.keys.find(secret))?.revokedAt).not.toBeNull();
  });

  it('revoke of an unknown id or prefix: one line on stderr, status 1, nothing changed', async () => {
    await run({ kind: 'keys.create', input: { name: 'Alice', role: 'viewer' } });
    const { status, out, err } = await run({ kind: 'keys.revoke', idOrPrefix: 'trl_zzzz' });
    expect(status).toBe(1);
    expect(out).toEqual([]);
    expect(err).toEqual(['keys revoke: no API key has the id or prefix "trl_zzzz"; keys list shows every key\'s id and prefix']);
    expect((await store.keys.list()).every((key) => key.revokedAt === null)).toBe(true);
  });

  it('does not repeat an argument that may be a whole key', async () => {
    const stranger = 'trl_thisLooksLikeSomebodysWholeKeyAAAAAAAAAAAAAA';
    const { status, err } = await run({ kind: 'keys.revoke', idOrPrefix: stranger });
    expect(status).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^keys revoke: no API key has this id, prefix or key \(not shown/);
    expect(err[0]).not.toContain('thisLooksLike');
  });

  it('revoke of a prefix two keys share: one line naming both ids, status 1, nothing changed', async () => {
    await store.keys.syncEnvKeys(['shared-prefix-key-one-01', 'shared-prefix-key-two-02']);
    const ids = (await store.keys.list()).map((key) => key.id);
    const { status, err } = await run({ kind: 'keys.revoke', idOrPrefix: 'shared-p' });
    expect(status).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^keys revoke: 2 API keys have the prefix "shared-p" \(.*\); name the key by its id, e\.g\. keys revoke key_/);
    for (const id of ids) expect(err[0]).toContain(id);
    expect((await store.keys.list()).every((key) => key.revokedAt === null)).toBe(true);
  });
});
