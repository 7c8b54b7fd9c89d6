import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Vault, VaultError } from '../../../relay/vault/vault.js';
import { DATABASES, DatabaseHarness, type TestStore } from './databases.js';
import { record } from './helpers.js';
import { A, B, B_OVER_A, expectReadable, fill, IDS, keyIdsIn, rawValues, refusedWith, sha256, wrongKeyLine } from './sealing-helpers.js';

/**
 * Secrets at rest (issue 14): what the parts write is sealed; a key that does not open the vault
 * stops the open and writes nothing; a rotation moves every value, and the canary last. Every
 * check on "sealed" reads the database's raw rows. (What an older relay kept in clear is
 * sealing-older-files.test.ts: only SQLite files have such a past.)
 */

describe.each(DATABASES)('secrets at rest ($name)', (database) => {
  /** A harness per test, made by the test: some open their first store with a vault of their own. */
  let harness: DatabaseHarness;
  const fresh = () => (harness = new DatabaseHarness(database));
  const open = (vault: Vault) => harness.store({ vault });
  const afterTest = () => harness?.cleanup();

  describe('what the store writes', () => {
    afterEach(afterTest);

    it('is sealed under the current key, in its place; reading opens it', async () => {
      fresh();
      const store = await open(A);
      const { secrets } = await fill(store, harness);
      await expectReadable(store, harness, secrets);
      const raw = await rawValues(harness);
      expect(raw).toHaveLength(IDS.length + 2 + 1 + 2 + 1);
      expect(await keyIdsIn(harness)).toEqual(new Set([A.keyId]));
      for (const { value } of raw) {
        for (const secret of [...secrets, 'rotated-refresh', 'secret-request-token', 'traveller-access-token', 'traveller-refresh-token']) expect(value).not.toContain(secret);
      }
      // A sealed value copied to another row does not open there.
      await harness.execute("UPDATE requests SET request_token = (SELECT request_token FROM requests WHERE id = 'R0001') WHERE id = 'R0002'");
      await expect(Promise.resolve().then(() => store.requests.getRequestToken('R0002'))).rejects.toThrow(VaultError);
    });

    it('keeps the token’s SHA-256 beside it: an unchanged token is neither compared by opening nor sealed again', async () => {
      fresh();
      const store = await open(A);
      await store.requests.upsertFromConcur([record('R1')], harness.clock.iso());
      const tokenOf = async () => (await rawValues(harness)).find((v) => v.row === 'R1')!.value;
      const before = await tokenOf();
      expect(await harness.rows("SELECT request_token_sha256 AS sha FROM requests WHERE id = 'R1'")).toEqual([{ sha: sha256('secret-request-token-R1') }]);
      expect(await store.requests.upsertFromConcur([record('R1')], harness.clock.iso())).toEqual({ created: [], updated: [] });
      // Another field changes: the row is written, the sealed token stays as it was.
      expect((await store.requests.upsertFromConcur([record('R1', { firstName: 'Grace' })], harness.clock.iso())).updated).toHaveLength(1);
      expect(await tokenOf()).toBe(before);
      // A new token (Concur answered a CRRET) is sealed anew, and read back as the new one.
      await store.requests.upsertFromConcur([record('R1', { firstName: 'Grace', requestToken: 'the-next-token' })], harness.clock.iso());
      expect(await store.requests.getRequestToken('R1')).toBe('the-next-token');
      await store.requests.upsertFromConcur([record('R1', { firstName: 'Grace', requestToken: null })], harness.clock.iso());
      expect(await store.requests.getRequestToken('R1')).toBeNull();
    });
  });

  describe('the canary: a key that does not open the vault', () => {
    afterEach(afterTest);

    it('stops the open with one clear line naming the key the values are under, and writes nothing', async () => {
      fresh();
      await fill(await open(A), harness);
      await harness.closeAll();
      const error = await refusedWith(harness, B);
      expect(error.message).toBe(wrongKeyLine(A.keyId));
      expect(error.message).not.toMatch(/\n/);
      // With the old key among RELAY_VAULT_OLD_KEYS it opens, and says the values are not under the new key yet.
      expect(await (await open(B_OVER_A)).sealing.keys()).toEqual({ current: B.keyId, canary: A.keyId });
    });

    it('without a canary, sealed values themselves must open (a lost canary row lets no wrong key in)', async () => {
      fresh();
      await fill(await open(A), harness);
      await harness.closeAll();
      await harness.execute("DELETE FROM relay_state WHERE key = 'vault.canary'");
      expect((await refusedWith(harness, B)).message).toBe(wrongKeyLine(A.keyId));
      expect((await open(A)).sealedAtOpen.canaryWritten).toBe(true);
    });

    it('a canary changed outside the relay stops the open too', async () => {
      fresh();
      expect((await open(A)).sealedAtOpen).toEqual({ sealed: [], canaryWritten: true });
      await harness.closeAll();
      expect((await open(A)).sealedAtOpen).toEqual({ sealed: [], canaryWritten: false });
      await harness.closeAll();
      await harness.execute("UPDATE relay_state SET value = 'not sealed' WHERE key = 'vault.canary'");
      expect((await refusedWith(harness, A)).message).toMatch(/vault check value is not a sealed value/);
    });
  });

  describe('rotation', () => {
    afterEach(afterTest);

    it('re-seals every value with the new key, the canary last; the new key alone reads everything afterwards', async () => {
      fresh();
      const { secrets } = await fill(await open(A), harness);
      await harness.closeAll();
      const progress: number[] = [];
      const report = await (await open(B_OVER_A)).sealing.rotate({ batchSize: 100, onBatch: (count) => void progress.push(count.resealed) });
      expect(report).toEqual({
        keyId: B.keyId,
        columns: [
          { column: 'requests.request_token', sealed: 0, resealed: IDS.length, current: 0, older: 0 },
          { column: 'webhook_secrets.secret', sealed: 0, resealed: 2, current: 0, older: 0 },
          { column: 'relay_state.value', sealed: 0, resealed: 1, current: 0, older: 0 },
          { column: 'connections.access_token', sealed: 0, resealed: 1, current: 0, older: 0 },
          { column: 'connections.refresh_token', sealed: 0, resealed: 1, current: 0, older: 0 },
        ],
        canary: 'moved',
        passes: 2,
      });
      expect(progress.slice(0, 3)).toEqual([100, 200, 250]);
      expect(await keyIdsIn(harness)).toEqual(new Set([B.keyId]));
      await harness.closeAll();

      await expectReadable(await open(B), harness, secrets);
      await harness.closeAll();
      await expect(open(A)).rejects.toThrow(wrongKeyLine(B.keyId));
      // Run again, it finds everything done.
      const again = await (await open(B_OVER_A)).sealing.rotate();
      expect(again.columns.map((c) => [c.resealed, c.current])).toEqual([[0, IDS.length], [0, 2], [0, 1], [0, 1], [0, 1]]);
      expect(again.canary).toBe('current');
    });

    it('stopped half-way, leaves each batch done or not, the canary under the old key; run again, it finishes', async () => {
      fresh();
      const { secrets } = await fill(await open(A), harness);
      await harness.closeAll();
      let written = 0;
      const stopAt = () => {
        if (++written === 150) throw new Error('stopped');
      };
      await expect(Promise.resolve().then(async () => (await open(B_OVER_A)).sealing.rotate({ batchSize: 100, onWritten: stopAt }))).rejects.toThrow('stopped');
      const tokens = (await rawValues(harness)).filter((v) => v.column === 'requests.request_token');
      // The first batch committed; the second rolled back whole.
      expect(tokens.filter((v) => Vault.keyIdOf(v.value) === B.keyId)).toHaveLength(100);
      expect(tokens.filter((v) => Vault.keyIdOf(v.value) === A.keyId)).toHaveLength(IDS.length - 100);
      await harness.closeAll();
      await expect(open(B)).rejects.toThrow(wrongKeyLine(A.keyId));
      const rest = await (await open(B_OVER_A)).sealing.rotate({ batchSize: 100 });
      expect(rest.columns[0]).toEqual({ column: 'requests.request_token', sealed: 0, resealed: IDS.length - 100, current: 100, older: 0 });
      await harness.closeAll();
      await expectReadable(await open(B), harness, secrets);
    });

    it('stops at a value under a key it was not given, naming the column and row, never the value', async () => {
      fresh();
      await fill(await open(A), harness);
      await harness.closeAll();
      const stranger = new Vault({ current: randomBytes(32) });
      // The vault's text is base64url and dots: nothing to escape.
      await harness.execute(`UPDATE requests SET request_token = '${stranger.seal('secret-request-token-R0007', 'requests.request_token:R0007')}' WHERE id = 'R0007'`);
      const store = await open(B_OVER_A);
      await expect(Promise.resolve().then(() => store.sealing.rotate())).rejects.toThrow(
        `requests.request_token of row "R0007": the value was sealed with vault key ${stranger.keyId}, which the relay was not given; put the key it was sealed with in RELAY_VAULT_OLD_KEYS and run "vault rotate" again`,
      );
      expect((await store.sealing.keys()).canary).toBe(A.keyId);
    });

    it('refuses to finish while a relay beside it still seals with the old key, and leaves the canary under it', async () => {
      fresh();
      const stale: TestStore = await open(A);
      await fill(stale, harness);
      const rotating = await open(B_OVER_A);
      let n = 0;
      const staleWrite = () => stale.requests.upsertFromConcur([record('R0001', { requestToken: `stale-${n++}` })], harness.clock.iso());
      await expect(Promise.resolve().then(() => rotating.sealing.rotate({ batchSize: 100, onBatch: staleWrite }))).rejects.toThrow(
        /^values sealed with another key kept appearing in requests\.request_token while "vault rotate" ran: .*restart every relay with RELAY_VAULT_KEY set to the key [0-9a-f]{8}/,
      );
      expect(await rotating.sealing.keys()).toEqual({ current: B.keyId, canary: A.keyId });
      expect(await rotating.requests.getRequestToken('R0001')).toMatch(/^stale-/);
    });
  });
});

describe('the canary on PostgreSQL, relays opening a new database at once', () => {
  let harness: DatabaseHarness;
  const postgres = DATABASES.find((d) => d.kind === 'postgres')!;
  afterEach(() => harness.cleanup());

  it('with one key: one writes the canary, every one opens', async () => {
    harness = new DatabaseHarness(postgres);
    const stores = await Promise.all([A, A, A].map((vault) => harness.store({ vault })));
    expect(stores.map((store) => store.sealedAtOpen.canaryWritten).sort()).toEqual([false, false, true]);
  });

  it('with two keys: the key that wrote the canary is the vault’s, the other relay is refused', async () => {
    harness = new DatabaseHarness(postgres);
    await harness.url();
    const outcomes = await Promise.allSettled([A, B].map((vault) => harness.store({ vault })));
    const opened = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    expect(opened).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(VaultError);
    const { current } = await opened[0]!.sealing.keys();
    expect(await opened[0]!.sealing.keys()).toEqual({ current, canary: current });
  });
});
