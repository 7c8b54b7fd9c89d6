/**
 * Which relay does the work only one may do at a time (polling Concur), when several share one
 * database. The workers ask `isLeader()` before each round and hear changes through `onChange`.
 * On PostgreSQL an advisory lock decides (store/postgres/leader.ts); on SQLite the one relay that
 * has the file is always the leader (`soleLeader`).
 */
export interface Leadership {
  isLeader(): boolean;
  /** Calls `listener` with every change from now on; the function it returns removes it. */
  onChange(listener: (leader: boolean) => void): () => void;
  /** Gives the leadership up (to another relay, if one is waiting) and stops trying. */
  stop(): Promise<void>;
}

/** Listeners and the current value, for both kinds of leadership. */
export class LeaderState {
  private leader = false;
  private readonly listeners = new Set<(leader: boolean) => void>();

  get(): boolean {
    return this.leader;
  }

  set(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    for (const listener of [...this.listeners]) listener(leader);
  }

  onChange(listener: (leader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** The one relay on an SQLite file: the leader from the start until it stops. */
export function soleLeader(): Leadership {
  const state = new LeaderState();
  state.set(true);
  return {
    isLeader: () => state.get(),
    onChange: (listener) => state.onChange(listener),
    async stop() {
      state.set(false);
    },
  };
}
