import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseVaultKey, Vault } from '../../../../relay/vault/vault.js';
import { TEST_VAULT, TEST_VAULT_KEY } from '../../../helpers/vault.js';
import { DATABASES } from '../../store/databases.js';
import { record } from '../../store/helpers.js';
import pg from 'pg';
import { eventually } from '../../../helpers/relay-process.js';
import { onDatabase } from '../../../helpers/postgres.js';
import { placePerTest, run, type Place } from './helpers.js';

/** `vault rotate` from the environment to its exit status, on both databases. */

const NEW_KEY = randomBytes(32).toString('base64');
const newVault = new Vault({ current: parseVaultKey(NEW_KEY)! });

/** The database under the tests' key with request tokens, a webhook secret, a rotated refresh token and a traveller's tokens: the secrets. */
async function fill({ harness }: Place): Promise<string[]> {
  const store = await harness.store();
  const now = harness.clock.now();
  await store.requests.upsertFromConcur([record('R1'), record('R2')], harness.clock.iso());
  const { secret } = await store.webhooks.create({ url: 'https://hooks.example/in', events: ['reply.sent'] }, { keyId: null, name: 'test' });
  await store.state.saveRefreshToken('configured', 'rotated-refresh-token');
  await store.connections.create({
    requestId: 'R1',
    form: 'legacy',
    tokens: { accessToken: 'user-access-R1', refreshToken: 'user-refresh-R1', instanceUrl: 'https://www.concursolutions.com/', accessTokenExpiresAt: new Date(now + 3_600_000).toISOString(), refreshTokenExpiresAt: null, geolocation: null },
    connectedBy: 'test',
    nextRefreshAt: now,
  });
  await harness.closeAll();
  return [secret, 'rotated-refresh-token', 'secret-request-token-R1', 'secret-request-token-R2', 'user-access-R1', 'user-refresh-R1'];
}

describe.each(DATABASES)('runCommand: vault rotate on $name', (kind) => {
  const place = placePerTest(kind);

  it('re-seals everything with RELAY_VAULT_KEY while RELAY_VAULT_OLD_KEYS opens the old values; counts per column, never a value', async () => {
    const secrets = await fill(place);
    const { status, out, err } = await run({ kind: 'vault.rotate' }, { RELAY_DB: place.env, RELAY_VAULT_KEY: NEW_KEY, RELAY_VAULT_OLD_KEYS: TEST_VAULT_KEY });
    expect({ status, err }).toEqual({ status: 0, err: [] });
    expect(out).toEqual([
      `vault rotate: re-sealing every secret in ${place.name} with key ${newVault.keyId} (older keys given: ${TEST_VAULT.keyId}); the vault is under key ${TEST_VAULT.keyId}`,
      `requests.request_token: 2 re-sealed with key ${newVault.keyId}, 0 already under it`,
      `webhook_secrets.secret: 1 re-sealed with key ${newVault.keyId}, 0 already under it`,
      `relay_state.value: 1 re-sealed with key ${newVault.keyId}, 0 already under it`,
      `connections.access_token: 1 re-sealed with key ${newVault.keyId}, 0 already under it`,
      `connections.refresh_token: 1 re-sealed with key ${newVault.keyId}, 0 already under it`,
      `vault check value: moved to key ${newVault.keyId}, last, now that every value is under it`,
      `Done: every secret in ${place.name} is sealed with key ${newVault.keyId} (2 passes). Restart the relay without RELAY_VAULT_OLD_KEYS when convenient; the old keys are no longer needed.`,
    ]);
    for (const secret of secrets) expect(out.join('\n')).not.toContain(secret);
    const rotated = await place.harness.store({ vault: newVault });
    expect(await rotated.requests.getRequestToken('R1')).toBe('secret-request-token-R1');
    const connection = (await rotated.connections.byRequest('R1'))!;
    expect(await rotated.connections.tokens(connection.id)).toMatchObject({ accessToken: 'user-access-R1', refreshToken: 'user-refresh-R1' });
  });

  it('waits after moving the check value, then re-seals what a relay still on the old key sealed meanwhile', async () => {
    await fill(place);
    // A relay left out of step 2: the old key alone (its vault watch would stop it at its next look).
    const stale = await place.harness.store({ vault: new Vault({ current: parseVaultKey(TEST_VAULT_KEY)! }) });
    const rotating = run({ kind: 'vault.rotate' }, { RELAY_DB: place.env, RELAY_VAULT_KEY: NEW_KEY, RELAY_VAULT_OLD_KEYS: TEST_VAULT_KEY, RELAY_VAULT_ROTATE_WAIT_SECONDS: '1' });
    const canaryKey = async () => {
      const [row] = await place.harness.rows<{ value: string }>("SELECT value FROM relay_state WHERE key = 'vault.canary'");
      return row === undefined ? undefined : Vault.keyIdOf(row.value);
    };
    await eventually(async () => (await canaryKey()) === newVault.keyId, 10_000);
    await stale.requests.upsertFromConcur([record('LATE')], place.harness.clock.iso());
    expect(Vault.keyIdOf((await place.harness.rows<{ t: string }>("SELECT request_token AS t FROM requests WHERE id = 'LATE'"))[0]!.t)).toBe(TEST_VAULT.keyId);

    const { status, out, err } = await rotating;
    expect({ status, err }).toEqual({ status: 0, err: [] });
    expect(out.slice(-4)).toEqual([
      `vault check value: moved to key ${newVault.keyId}, last, now that every value is under it`,
      'waiting 1 s for every running relay to see the new key, then looking once more (RELAY_VAULT_ROTATE_WAIT_SECONDS)',
      'requests.request_token: 1 sealed meanwhile by a relay still on its old RELAY_VAULT_KEY (it seals no more now; restart it with the new key), re-sealed',
      `Done: every secret in ${place.name} is sealed with key ${newVault.keyId} (2 passes). Restart the relay without RELAY_VAULT_OLD_KEYS when convenient; the old keys are no longer needed.`,
    ]);
    // The new key alone opens it: nothing is lost when the old key goes.
    const rotated = await place.harness.store({ vault: newVault });
    expect(await rotated.requests.getRequestToken('LATE')).toBe('secret-request-token-LATE');
  });

  it('with nothing sealed meanwhile, the last look says so', async () => {
    await fill(place);
    const { status, out } = await run({ kind: 'vault.rotate' }, { RELAY_DB: place.env, RELAY_VAULT_KEY: NEW_KEY, RELAY_VAULT_OLD_KEYS: TEST_VAULT_KEY, RELAY_VAULT_ROTATE_WAIT_SECONDS: '1' });
    expect(status).toBe(0);
    expect(out.slice(-3, -1)).toEqual([
      'waiting 1 s for every running relay to see the new key, then looking once more (RELAY_VAULT_ROTATE_WAIT_SECONDS)',
      'nothing was sealed with another key meanwhile',
    ]);
    // Run again, the check value is already under the key: no wait.
    const again = await run({ kind: 'vault.rotate' }, { RELAY_DB: place.env, RELAY_VAULT_KEY: NEW_KEY, RELAY_VAULT_OLD_KEYS: TEST_VAULT_KEY, RELAY_VAULT_ROTATE_WAIT_SECONDS: '1' });
    expect(again.out.join('\n')).not.toContain('waiting');
  });

  it('a key that does not open the database: one line, exit status 1, for keys and vault commands alike', async () => {
    await fill(place);
    const wrong = `RELAY_VAULT_KEY does not open this database's vault (its values are sealed with key ${TEST_VAULT.keyId}); start with the key it was made with, or put that key in RELAY_VAULT_OLD_KEYS and run "vault rotate"`;
    for (const [command, where] of [[{ kind: 'vault.rotate' }, 'vault rotate'], [{ kind: 'keys.list' }, 'keys list']] as const) {
      const { status, out, err } = await run(command, { RELAY_DB: place.env, RELAY_VAULT_KEY: NEW_KEY });
      expect({ status, out, err }).toEqual({ status: 1, out: [], err: [`${where}: ${wrong}`] });
    }
  });

  it('a value under a key it was not given: one line naming the column and row, exit status 1', async () => {
    await fill(place);
    await place.harness.execute(`UPDATE requests SET request_token = '${newVault.seal('secret-request-token-R2', 'requests.request_token:R2')}' WHERE id = 'R2'`);
    const third = randomBytes(32).toString('base64');
    const { status, err } = await run({ kind: 'vault.rotate' }, { RELAY_DB: place.env, RELAY_VAULT_KEY: third, RELAY_VAULT_OLD_KEYS: TEST_VAULT_KEY });
    expect(status).toBe(1);
    expect(err).toEqual([expect.stringMatching(/^vault rotate: requests\.request_token of row "R2": the value was sealed with vault key [0-9a-f]{8}, which the relay was not given; put the key/)]);
  });
});

describe('runCommand: vault rotate on PostgreSQL beside a relay writing', () => {
  const place = placePerTest(DATABASES[1]!);

  it('yields to a relay that locks request rows in another order than the walk (a poll updating its page): no deadlock, the relay commits, the rotation finishes and counts each value once', async () => {
    const store = await place.harness.store();
    const ids = Array.from({ length: 250 }, (_, i) => `R${String(i).padStart(4, '0')}`);
    await store.requests.upsertFromConcur(ids.map((id) => record(id)), place.harness.clock.iso());
    await place.harness.closeAll();

    const relay = new pg.Client({ connectionString: place.env });
    await relay.connect();
    try {
      await relay.query('BEGIN');
      // A row of the walk's second batch (R0100…R0199, batches of 100), locked first.
      await relay.query("UPDATE requests SET first_name = 'Grace' WHERE id = 'R0150'");
      const rotating = run({ kind: 'vault.rotate' }, { RELAY_DB: place.env, RELAY_VAULT_KEY: NEW_KEY, RELAY_VAULT_OLD_KEYS: TEST_VAULT_KEY });
      // The walk has locked R0100…R0149 and waits for R0150; the relay now wants R0120: each waits for the other.
      const waiting = "SELECT pid FROM pg_stat_activity WHERE application_name = 'triplink-relay cli' AND wait_event_type = 'Lock'";
      await eventually(async () => (await onDatabase(place.env, waiting)).length > 0, 10_000);
      await relay.query("UPDATE requests SET first_name = 'Grace' WHERE id = 'R0120'");
      await relay.query('COMMIT');

      const { status, out, err } = await rotating;
      expect({ status, err }).toEqual({ status: 0, err: [] });
      expect(out).toContain(`requests.request_token: 250 re-sealed with key ${newVault.keyId}, 0 already under it`);
    } finally {
      await relay.end();
    }
    expect(await place.harness.rows("SELECT id, first_name FROM requests WHERE first_name = 'Grace' ORDER BY id")).toEqual([
      { id: 'R0120', first_name: 'Grace' },
      { id: 'R0150', first_name: 'Grace' },
    ]);
    const rotated = await place.harness.store({ vault: newVault });
    for (const id of ['R0000', 'R0120', 'R0150', 'R0249']) expect(await rotated.requests.getRequestToken(id)).toBe(`secret-request-token-${id}`);
  });
});
