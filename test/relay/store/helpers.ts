import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import type { ConcurRecord } from '../../../relay/concur/record.js';
import { openStore, type Actor, type Store, type StoreOptions } from '../../../relay/store/index.js';
import { TEST_VAULT } from '../../helpers/vault.js';

/** A clock the test moves by hand. */
export class TestClock {
  constructor(public ms = Date.parse('2024-05-01T10:00:00.000Z')) {}
  readonly now = (): number => this.ms;
  iso(): string {
    return new Date(this.ms).toISOString();
  }
  advance(ms: number): string {
    this.ms += ms;
    return this.iso();
  }
}

export function record(id: string, overrides: Partial<ConcurRecord> = {}): ConcurRecord {
  return {
    id,
    uri: `https://www.concursolutions.com/api/v3.0/common/connectionrequests/${id}`,
    firstName: 'Ada',
    middleName: null,
    lastName: 'Lovelace',
    loyaltyNumber: `LN-${id}`,
    discountCode: '',
    status: 'Pending',
    requestToken: `secret-request-token-${id}`,
    message: null,
    lastModified: '2024-05-01T09:00:00Z',
    userId: null,
    emailAddresses: [],
    ...overrides,
  };
}

/** A fresh folder with a database path inside a not-yet-existing subfolder; removed by `cleanup`. */
export function tempDb(): { dir: string; path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'relay-store-'));
  return { dir, path: join(dir, 'nested', 'relay.sqlite'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Opens stores on one temp file and closes them all at the end. */
export class StoreHarness {
  readonly clock = new TestClock();
  /** `apiVersion`: the Concur API version every store it opens works for (its retry limits and token lifetime); 3.0 when not given. */
  constructor(private readonly defaults: Pick<StoreOptions, 'apiVersion'> = {}) {}
  private readonly db = tempDb();
  private readonly open: Store[] = [];
  get path(): string {
    return this.db.path;
  }
  /** The store opened last (after a `reopen`, the new one). */
  get latest(): Store {
    const store = this.open.at(-1);
    if (store === undefined) throw new Error('no store is open');
    return store;
  }
  store(): Store {
    return this.storeWith({});
  }
  /** A store with more options (a hand on its connection, a read-only open). */
  storeWith(options: Omit<StoreOptions, 'clock' | 'vault'> & { vault?: StoreOptions['vault'] }): Store {
    const store = openStore(this.db.path, { vault: TEST_VAULT, ...this.defaults, ...options, clock: this.clock.now });
    this.open.push(store);
    return store;
  }
  /** Closes every store opened so far and opens the file again, as a restart would. */
  reopen(): Store {
    this.closeAll();
    return this.store();
  }
  closeAll(): void {
    for (const store of this.open.splice(0)) store.close();
  }
  cleanup(): void {
    this.closeAll();
    this.db.cleanup();
  }
}

/** For each test, a store on a fresh temp file and its harness, handed to `use`; all closed and removed after the test. */
export function storePerTest(use: (harness: StoreHarness, store: Store) => void): void {
  let harness: StoreHarness | undefined;
  beforeEach(() => {
    harness = new StoreHarness();
    use(harness, harness.store());
  });
  afterEach(() => harness?.cleanup());
}

/** The parts of a store (every member but `migration` and `close`). */
export type StorePart = Exclude<keyof Store, 'migration' | 'close'>;

/** Some methods of some parts, to stand in for the store's own. */
export type StoreOverrides = { [K in StorePart]?: Partial<Store[K]> };

/** `store` with some methods of some parts replaced; every other part and method is the store's own. */
export function withParts(store: Store, overrides: StoreOverrides): Store {
  const result: Store = { ...store };
  for (const part of Object.keys(overrides) as StorePart[]) {
    Object.assign(result, { [part]: { ...store[part], ...overrides[part] } });
  }
  return result;
}

/**
 * `store` with every method of every part called through `around`, which is given the method's
 * name (`part.method`) and a function that makes the call, and may make it or throw instead.
 */
export function aroundEveryMethod(store: Store, around: (name: string, call: () => unknown) => unknown): Store {
  const result: Store = { ...store };
  for (const [part, methods] of Object.entries(store)) {
    if (part === 'migration' || typeof methods !== 'object' || methods === null) continue;
    const wrapped = Object.fromEntries(
      Object.entries(methods as Record<string, unknown>).map(([name, method]) => [
        name,
        typeof method === 'function' ? (...args: unknown[]) => around(`${part}.${name}`, () => method.apply(methods, args)) : method,
      ]),
    );
    Object.assign(result, { [part]: wrapped });
  }
  return result;
}

/** Who asks for the replies the tests queue straight into the store. */
export const TESTER: Actor = { keyId: null, name: 'tester' };
