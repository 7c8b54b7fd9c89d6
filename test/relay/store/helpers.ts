import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConcurRecord } from '../../../relay/concur/record.js';
import { openStore, type Store, type StoreOptions } from '../../../relay/store/index.js';

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
  private readonly db = tempDb();
  private readonly open: Store[] = [];
  get path(): string {
    return this.db.path;
  }
  store(): Store {
    return this.storeWith({});
  }
  /** A store with more options (a hand on its connection, a read-only open). */
  storeWith(options: Omit<StoreOptions, 'clock'>): Store {
    const store = openStore(this.db.path, { ...options, clock: this.clock.now });
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
