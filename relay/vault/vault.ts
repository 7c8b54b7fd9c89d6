import { createCipheriv, createDecipheriv, createHash, randomFillSync } from 'node:crypto';

/**
 * The vault: how every secret the relay keeps is sealed at rest (request tokens, travellers'
 * tokens, webhook and directory secrets, the relay's own rotated Concur refresh token). Nothing
 * here is home-made cryptography: AES-256-GCM from node:crypto, as Nango's vault does.
 *
 * - A random 96-bit nonce per value (never reused under a key: 2^-32 collision odds after 2^32
 *   values, far beyond a relay's lifetime).
 * - Associated data binds a sealed value to where it belongs (`table.column:rowId`): a value copied
 *   into another row or column does not open.
 * - The key id is kept with each value, so a rotation can proceed row by row and a value sealed
 *   under an older key (RELAY_VAULT_OLD_KEYS) still opens meanwhile.
 *
 * A sealed value is text: `tv1.<key id>.<nonce>.<ciphertext and tag>` (base64url parts).
 */

const FORMAT = 'tv1';
/** How every sealed value begins (and a value kept in clear by an older relay, in practice, never does). */
export const SEALED_PREFIX = `${FORMAT}.`;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** Nonces drawn from the CSPRNG per call of randomFillSync (see nextNonce). */
const NONCES_PER_DRAW = 256;

/**
 * A fresh random nonce for one seal. The CSPRNG is asked for NONCES_PER_DRAW nonces at once and
 * each 12-byte slice is handed out once, never again: asking it for 12 bytes per seal (a call into
 * OpenSSL each time) was about 1.8 of the 6 µs of CPU a seal took (measured over 20,000 seals).
 *
 * As safe as a draw per seal: GCM needs a nonce never to repeat under a key, and the odds that two
 * repeat depend only on each being 96 independent uniform bits, which disjoint slices of one CSPRNG
 * output are, exactly as consecutive small draws are (the generator's output is one stream either
 * way). Nonces are not secret (each is stored in the clear beside its ciphertext), so holding the
 * next few in memory before use reveals nothing that sealing will not publish anyway. A slice is
 * copied out before the pool is refilled, so no two seals ever share one.
 */
const noncePool = Buffer.alloc(NONCE_BYTES * NONCES_PER_DRAW);
let nonceAt = noncePool.length;

function nextNonce(): Buffer {
  if (nonceAt === noncePool.length) {
    randomFillSync(noncePool);
    nonceAt = 0;
  }
  const nonce = Buffer.from(noncePool.subarray(nonceAt, nonceAt + NONCE_BYTES));
  nonceAt += NONCE_BYTES;
  return nonce;
}

/** A value that is not a sealed value, a key the vault does not hold, or one that does not open (wrong key, tampered, moved). */
export class VaultError extends Error {
  override readonly name: string = 'VaultError';
}

/** A seal refused because the vault was fenced (Vault.fence): nothing was written with it. */
export class VaultFencedError extends VaultError {
  override readonly name = 'VaultFencedError';
}

/** The id kept beside each sealed value: the first 8 hex digits of a hash of the key, which says nothing of the key. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update('triplink-vault-key-id:').update(key).digest('hex').slice(0, 8);
}

/** 32 bytes from base64 (standard or url-safe) or hex text, or undefined when the text is neither or not 32 bytes. */
export function parseVaultKey(text: string): Buffer | undefined {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (!/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(value)) return undefined;
  const bytes = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return bytes.length === KEY_BYTES ? bytes : undefined;
}

export interface VaultKeys {
  /** Seals every new value. */
  current: Buffer;
  /** Open values sealed before a rotation; never seal. */
  old?: readonly Buffer[];
}

export class Vault {
  readonly keyId: string;
  readonly #keys = new Map<string, Buffer>();
  readonly #current: Buffer;
  #fenced: string | null = null;

  constructor({ current, old = [] }: VaultKeys) {
    for (const key of [current, ...old]) {
      if (key.length !== KEY_BYTES) throw new VaultError(`a vault key is ${KEY_BYTES} bytes, not ${key.length}`);
    }
    this.#current = current;
    this.keyId = keyIdOf(current);
    // The current key first: a value sealed under it never needs an old key.
    for (const key of [current, ...old]) if (!this.#keys.has(keyIdOf(key))) this.#keys.set(keyIdOf(key), key);
  }

  /** The ids of every key the vault holds, current first. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  /**
   * From now on nothing is sealed (open goes on): the database's values moved to a key this vault
   * was not given (boot/vault-watch.ts), so a value sealed with its key would not open once the
   * old key is gone. `reason` is the VaultError every seal throws.
   */
  fence(reason: string): void {
    this.#fenced ??= reason;
  }

  /** Why sealing stopped (fence), or null. */
  get fenced(): string | null {
    return this.#fenced;
  }

  seal(plain: string, where: string): string {
    if (this.#fenced !== null) throw new VaultFencedError(this.#fenced);
    const nonce = nextNonce();
    const cipher = createCipheriv('aes-256-gcm', this.#current, nonce);
    cipher.setAAD(Buffer.from(where, 'utf8'));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${FORMAT}.${this.keyId}.${nonce.toString('base64url')}.${body.toString('base64url')}`;
  }

  open(sealed: string, where: string): string {
    const { keyId, nonce, body } = partsOf(sealed);
    const key = this.#keys.get(keyId);
    if (key === undefined) throw new VaultError(`the value was sealed with vault key ${keyId}, which the relay was not given`);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(Buffer.from(where, 'utf8'));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new VaultError(`a sealed value does not open with vault key ${keyId} (a wrong key, or a value changed or moved)`);
    }
  }

  /** The key id a sealed value names, or undefined for anything else (a value kept in clear by an older relay). */
  static keyIdOf(value: string): string | undefined {
    try {
      return partsOf(value).keyId;
    } catch {
      return undefined;
    }
  }
}

function partsOf(sealed: string): { keyId: string; nonce: Buffer; body: Buffer } {
  const parts = sealed.split('.');
  if (parts.length !== 4 || parts[0] !== FORMAT || !/^[0-9a-f]{8}$/.test(parts[1]!)) throw new VaultError('not a sealed value');
  const nonce = Buffer.from(parts[2]!, 'base64url');
  const body = Buffer.from(parts[3]!, 'base64url');
  if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) throw new VaultError('not a sealed value');
  return { keyId: parts[1]!, nonce, body };
}
