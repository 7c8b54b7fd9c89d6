import type { EventLog } from '../store/index.js';

/**
 * Answers built from the store, kept until the store may answer differently. Every entry is
 * dropped when a store event commits (every write to connection requests and their replies
 * appends an event in the same transaction, so a commit that can change a list announces
 * itself) and when another connection has committed to the database file (SQLite's
 * data_version moves). The store is the relay's only state, so a kept answer is the one the store
 * would build now; building again is only saved work.
 *
 * An answer that fails to build (a bad cursor, a broken store) is thrown and not kept. At most
 * `maxEntries` answers are kept, the oldest dropped first: the keys are a client's queries, and a
 * few clients ask the same few.
 */
export class AnswerCache<V> {
  private entries = new Map<string, V>();
  private version: number;

  constructor(
    private readonly events: Pick<EventLog, 'subscribe' | 'dataVersion'>,
    private readonly maxEntries = 64,
  ) {
    this.version = events.dataVersion();
    events.subscribe(() => this.clear());
  }

  get(key: string, build: () => V): V {
    const version = this.events.dataVersion();
    if (version !== this.version) {
      this.version = version;
      this.clear();
    }
    const kept = this.entries.get(key);
    if (kept !== undefined) return kept;
    const value = build();
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(key, value);
    return value;
  }

  clear(): void {
    if (this.entries.size > 0) this.entries = new Map();
  }
}
