import type { Awaitable, EventLog } from '../store/index.js';

/**
 * Answers built from the store, kept until the store may answer differently. Every entry is
 * dropped when a store event commits (every write to connection requests and their replies
 * appends an event in the same transaction, so a commit that can change a list announces
 * itself) and when another connection has committed to the database file (SQLite's
 * data_version moves). The store is the relay's only state, so a kept answer is the one the store
 * would build now; building again is only saved work.
 *
 * An answer that fails to build (a bad cursor, a broken store) is thrown and not kept; nor is one
 * whose build was overtaken by a change (an event or another connection's commit while the build
 * awaited the store): it is answered, as it was read, but the next caller builds again. At most
 * `maxEntries` answers are kept, the oldest dropped first: the keys are a client's queries, and a
 * few clients ask the same few.
 */
export class AnswerCache<V> {
  private entries = new Map<string, V>();
  /** The data_version the entries were built under; undefined until it has been read. */
  private version: number | undefined;
  /** Moves at every clear: a build that started under another generation is not kept. */
  private generation = 0;

  constructor(
    private readonly events: Pick<EventLog, 'subscribe' | 'dataVersion'>,
    private readonly maxEntries = 64,
  ) {
    events.subscribe(() => this.clear());
  }

  async get(key: string, build: () => Awaitable<V>): Promise<V> {
    const version = await this.events.dataVersion();
    if (version !== this.version) {
      this.version = version;
      this.clear();
    }
    const kept = this.entries.get(key);
    if (kept !== undefined) return kept;
    const generation = this.generation;
    const value = await build();
    if (generation !== this.generation) return value;
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(key, value);
    return value;
  }

  clear(): void {
    this.generation++;
    if (this.entries.size > 0) this.entries = new Map();
  }
}
