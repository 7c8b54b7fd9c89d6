import { randomBytes, randomInt, randomUUID } from 'node:crypto';

/**
 * Two kinds of randomness. Data (IDs, names, request tokens) comes from a seedable PRNG so a given
 * seed always produces the same travellers. Credentials, offsets and error ids come from
 * node:crypto: nothing is gained by making secrets predictable.
 */

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const BASE64 = `${ALNUM}+/`;

export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** mulberry32: small, fast, good enough for test data. Returns [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  chars(length: number, alphabet = ALNUM): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }

  digits(length: number): string {
    return this.chars(length, '0123456789');
  }

  /** A lower-case GUID, as v3.2's userId. */
  guid(): string {
    const hex = this.chars(32, '0123456789abcdef');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${'89ab'[this.int(0, 3)]}${hex.slice(17, 20)}-${hex.slice(20)}`;
  }
}

export function randomSeed(): number {
  return randomInt(0, 2 ** 31);
}

/** A v3.0 connection request ID: 28 base64-ish characters, like `nVkXk0j3Yzk4LosUofRwPOvndJDo`. */
export function connectionRequestId(random: Random): string {
  return random.chars(28);
}

/** A request token, like `EPCYxQ1NRMTstK61XmbdZp7effas271`. */
export function requestToken(random: Random): string {
  return random.chars(31);
}

/** A string of `length` characters from `alphabet`, from node:crypto. */
export function secureChars(length: number, alphabet = ALNUM): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += alphabet[byte % alphabet.length];
  return out;
}

/** A legacy access token like the seed's `H+IumY5p1W3U1QQ/X9T4AlcboHU=`. */
export function legacyAccessToken(): string {
  return `${secureChars(27, BASE64)}=`;
}

/** An opaque page offset like the seed's `nQ4hRgi9Q9uLj32rQWtgN3Mw`. */
export function offsetToken(): string {
  return secureChars(24);
}

/** Concur's error Id: a GUID in upper case. */
export function errorId(): string {
  return randomUUID().toUpperCase();
}

export function uuid(): string {
  return randomUUID();
}

export function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** Something that looks like a signed JWT (it is not verifiable, and need not be). */
export function fakeJwt(payload: Record<string, unknown>): string {
  const header = { alg: 'RS256', kid: 'sandbox', typ: 'JWT' };
  return `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}.${base64url(randomBytes(64))}`;
}
