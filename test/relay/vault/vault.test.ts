import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyIdOf, parseVaultKey, Vault, VaultError, VaultFencedError } from '../../../relay/vault/vault.js';

/** The vault's promises: sealed values open only under their key and in their place, and never show what they hold. */

const K1 = randomBytes(32);
const K2 = randomBytes(32);

describe('the vault', () => {
  it('seals any text so that it opens again in the same place, and the sealed text shows nothing of it', () => {
    const vault = new Vault({ current: K1 });
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ minLength: 1, maxLength: 40 }), (plain, where) => {
        const sealed = vault.seal(plain, where);
        expect(vault.open(sealed, where)).toBe(plain);
        expect(sealed.startsWith(`tv1.${keyIdOf(K1)}.`)).toBe(true);
        if (plain.length >= 4) expect(sealed).not.toContain(plain);
      }),
      { numRuns: 200 },
    );
  });

  it('uses a new nonce for every value: the same secret sealed twice gives two texts', () => {
    const vault = new Vault({ current: K1 });
    expect(vault.seal('same', 'requests.request_token:A')).not.toBe(vault.seal('same', 'requests.request_token:A'));
  });

  it('never gives two values the same nonce, over many more seals than one draw of the random source', () => {
    const vault = new Vault({ current: K1 });
    const nonces = Array.from({ length: 2_000 }, () => vault.seal('same', 'requests.request_token:A').split('.')[2]);
    expect(new Set(nonces).size).toBe(nonces.length);
    expect(nonces.every((nonce) => Buffer.from(nonce!, 'base64url').length === 12)).toBe(true);
  });

  it('does not open a value moved to another row or column, changed by a byte, or under another key', () => {
    const vault = new Vault({ current: K1 });
    const sealed = vault.seal('secret-request-token', 'requests.request_token:A');
    expect(() => vault.open(sealed, 'requests.request_token:B')).toThrow(VaultError);
    expect(() => vault.open(sealed, 'webhook_secrets.secret:A')).toThrow(VaultError);
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0]! ^= 1;
    expect(() => vault.open([...parts.slice(0, 3), body.toString('base64url')].join('.'), 'requests.request_token:A')).toThrow(VaultError);
    expect(() => new Vault({ current: K2 }).open(sealed, 'requests.request_token:A')).toThrow(/vault key [0-9a-f]{8}, which the relay was not given/);
    expect(() => vault.open('secret-request-token', 'requests.request_token:A')).toThrow('not a sealed value');
  });

  it('opens values of an old key during a rotation, and seals only with the current one', () => {
    const before = new Vault({ current: K1 });
    const sealed = before.seal('refresh-token', 'relay_state.value:concur.refresh_token');
    const rotating = new Vault({ current: K2, old: [K1] });
    expect(rotating.keyIds).toEqual([keyIdOf(K2), keyIdOf(K1)]);
    expect(rotating.open(sealed, 'relay_state.value:concur.refresh_token')).toBe('refresh-token');
    expect(Vault.keyIdOf(rotating.seal('x', 'w'))).toBe(keyIdOf(K2));
    expect(Vault.keyIdOf(sealed)).toBe(keyIdOf(K1));
    expect(Vault.keyIdOf('a value kept in clear')).toBeUndefined();
  });

  it('fenced, it seals nothing more and says why, and still opens what it sealed', () => {
    const vault = new Vault({ current: K1 });
    const sealed = vault.seal('request-token', 'requests.request_token:A');
    expect(vault.fenced).toBeNull();
    vault.fence('the values moved to key 12345678');
    vault.fence('a later reason is not kept');
    expect(vault.fenced).toBe('the values moved to key 12345678');
    expect(() => vault.seal('another', 'requests.request_token:B')).toThrow(new VaultFencedError('the values moved to key 12345678'));
    expect(new VaultFencedError('x')).toBeInstanceOf(VaultError);
    expect(vault.open(sealed, 'requests.request_token:A')).toBe('request-token');
  });

  it('reads a key as 32 bytes of base64 (either alphabet) or hex, and nothing else', () => {
    const key = randomBytes(32);
    expect(parseVaultKey(key.toString('base64'))).toEqual(key);
    expect(parseVaultKey(key.toString('base64url'))).toEqual(key);
    expect(parseVaultKey(` ${key.toString('hex')}\n`)).toEqual(key);
    for (const bad of ['', 'short', randomBytes(16).toString('base64'), randomBytes(48).toString('base64'), 'z'.repeat(64)]) {
      expect(parseVaultKey(bad), bad).toBeUndefined();
    }
    expect(() => new Vault({ current: randomBytes(16) })).toThrow(VaultError);
  });
});
