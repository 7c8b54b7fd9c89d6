import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { watchVaultKey, type VaultWatch } from '../../../relay/boot/vault-watch.js';
import { Vault, VaultError } from '../../../relay/vault/vault.js';
import { DATABASES, DatabaseHarness } from '../store/databases.js';
import { record } from '../store/helpers.js';
import { captureLog } from '../helpers.js';

/**
 * A relay left out of a rotation: `vault rotate` moved the vault check value to the new key while
 * this relay still runs with the old key. From its next look on it seals nothing (what it sealed
 * would not open once the old key is gone), and says so once; a relay given both keys goes on.
 */

const OLD = randomBytes(32);
const NEW = randomBytes(32);

describe.each(DATABASES)('the vault watch ($name)', (database) => {
  let harness: DatabaseHarness;
  const watches: VaultWatch[] = [];
  afterEach(async () => {
    for (const watch of watches.splice(0)) watch.stop();
    await harness?.cleanup();
  });

  /** A relay's vault and store on the harness's database, and its watch (checked by hand: the timer is an hour). */
  async function relay(vault: Vault) {
    const store = await harness.store({ vault });
    const log = captureLog();
    const watch = watchVaultKey({ sealing: store.sealing, vault, logger: log.logger, intervalMs: 3_600_000 });
    watches.push(watch);
    return { store, vault, log, watch };
  }

  it('stops a relay with the old key from sealing once the rotation moved the check value, and says why once', async () => {
    harness = new DatabaseHarness(database);
    const stale = await relay(new Vault({ current: OLD }));
    const rotating = await relay(new Vault({ current: NEW, old: [OLD] }));
    await stale.store.requests.upsertFromConcur([record('R1')], harness.clock.iso());

    // Before the rotation ends, both go on.
    await stale.watch.check();
    await rotating.watch.check();
    expect(stale.vault.fenced).toBeNull();

    const cli = await harness.store({ vault: new Vault({ current: NEW, old: [OLD] }) });
    expect((await cli.sealing.rotate()).canary).toBe('moved');

    await stale.watch.check();
    await stale.watch.check();
    await rotating.watch.check();
    expect(rotating.vault.fenced).toBeNull();
    const newId = new Vault({ current: NEW }).keyId;
    expect(stale.vault.fenced).toBe(
      `the vault was rotated to key ${newId}, which this relay was not given (its RELAY_VAULT_KEY is key ${stale.vault.keyId}): ` +
        `it seals no more secrets, since they would not open once the old key is gone; restart it with RELAY_VAULT_KEY set to key ${newId}`,
    );
    const errors = stale.log.lines().filter((line) => line.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ keyId: stale.vault.keyId, sealedWith: newId });

    // A new request token is not stored under the old key; nothing of the page is written.
    await expect(Promise.resolve().then(() => stale.store.requests.upsertFromConcur([record('R2')], harness.clock.iso()))).rejects.toThrow(VaultError);
    expect(await stale.store.requests.get('R2')).toBeUndefined();
    // What needs no sealing is written, and what it has still reads.
    expect((await stale.store.requests.upsertFromConcur([record('R3', { requestToken: null })], harness.clock.iso())).created).toHaveLength(1);
    expect(await rotating.store.requests.getRequestToken('R1')).toBe('secret-request-token-R1');
    // The relay given the new key seals on, under it.
    expect((await rotating.store.requests.upsertFromConcur([record('R2')], harness.clock.iso())).created).toHaveLength(1);
  });

  it('leaves a relay alone whose store cannot be read (its health check says so), and looks again next time', async () => {
    harness = new DatabaseHarness(database);
    const vault = new Vault({ current: OLD });
    const log = captureLog();
    let broken = true;
    const watch = watchVaultKey({
      sealing: {
        keys: () => {
          if (broken) throw new Error('SQLITE_IOERR: disk I/O error');
          return { current: vault.keyId, canary: new Vault({ current: NEW }).keyId };
        },
      },
      vault,
      logger: log.logger,
      intervalMs: 3_600_000,
    });
    watches.push(watch);
    await watch.check();
    expect(vault.fenced).toBeNull();
    broken = false;
    await watch.check();
    expect(vault.fenced).toMatch(/^the vault was rotated to key /);
  });
});
