/**
 * Wrong API keys by the address they came from, to slow down guessing (README, "People and
 * permissions"): more than `limit` in a window of `windowMs` from one address, and every further
 * wrong key from it is refused with 429 until the window has passed. Valid keys are never
 * counted nor slowed: the key is checked first, and only a wrong one comes here.
 *
 * A fixed window per address, started by its first wrong key. The map stays small: windows are
 * kept in the order they started, so the ones that have passed are dropped from the front as new
 * ones start, and at `maxAddresses` the oldest window goes even if it has not passed. (Someone
 * with that many addresses can evict their own; a key of 32 random bytes is not guessed in
 * twenty tries a minute from any number of addresses anyway: this is to keep the log and the
 * database quiet, and a guesser visible in the metrics.)
 */

export interface FailedKeysOptions {
  /** Wrong keys let through (401) per address and window. Default 20. */
  limit?: number;
  /** Default 60 000. */
  windowMs?: number;
  /** Addresses remembered at most. Default 10 000. */
  maxAddresses?: number;
  /** Epoch ms. */
  now: () => number;
}

interface Window {
  start: number;
  count: number;
}

export class FailedKeys {
  readonly #windows = new Map<string, Window>();
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #maxAddresses: number;
  readonly #now: () => number;

  constructor(options: FailedKeysOptions) {
    this.#limit = options.limit ?? 20;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxAddresses = Math.max(1, options.maxAddresses ?? 10_000);
    this.#now = options.now;
  }

  /** Addresses remembered now. */
  get size(): number {
    return this.#windows.size;
  }

  /**
   * Counts one wrong key from `address`. Returns undefined while it is within the limit, else the
   * whole seconds until its window has passed (for Retry-After, at least 1).
   */
  fail(address: string): number | undefined {
    const now = this.#now();
    let window = this.#windows.get(address);
    if (window === undefined || now - window.start >= this.#windowMs) {
      // Deleted and set again, so that the map stays in the order the windows started.
      this.#windows.delete(address);
      this.#prune(now);
      window = { start: now, count: 0 };
      this.#windows.set(address, window);
    }
    window.count += 1;
    if (window.count <= this.#limit) return undefined;
    return Math.max(1, Math.ceil((window.start + this.#windowMs - now) / 1000));
  }

  /** Drops the windows that have passed (the oldest first) and, when still full, the oldest one. */
  #prune(now: number): void {
    for (const [address, window] of this.#windows) {
      if (now - window.start < this.#windowMs && this.#windows.size < this.#maxAddresses) break;
      this.#windows.delete(address);
    }
  }
}
