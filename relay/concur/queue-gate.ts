/**
 * API 3.2's list is a queue, and a PUT pops its request from it: every request behind it moves one
 * place to the left. A page asked for at offset N while a PUT is on its way may or may not see that
 * PUT, so the next offset cannot be known, and a request can slip past the sweep unseen.
 *
 * The gate takes that uncertainty away: list calls and PUTs never fly at the same time. Any number
 * of one kind may run together; the other kind waits until they have all been answered. Waiters
 * are served in the order they came, kind by kind, so a sweep's pages cannot starve the replies or
 * the other way round. With the gate, every PUT a sweep must allow for has been answered before
 * the next page is asked for, so queue-pages.ts can work out the next offset exactly (`pops`).
 */

export type GateKind = 'list' | 'put';

export class QueueGate {
  #running: GateKind | null = null;
  #active = 0;
  readonly #waiting: Array<{ kind: GateKind; enter: () => void }> = [];
  #pops = 0;

  /** PUTs that may have reached Concur since this gate was made: each may have moved the queue one place. */
  get pops(): number {
    return this.#pops;
  }

  /** Runs `work` once no call of the other kind is on its way; a `put` counts as a pop whatever it ends in. */
  async run<T>(kind: GateKind, work: () => Promise<T>): Promise<T> {
    await this.#enter(kind);
    try {
      return await work();
    } finally {
      // A PUT that failed may still have been applied (a timeout, a cut connection): counting it
      // costs a page that overlaps the one before, never a request skipped.
      if (kind === 'put') this.#pops += 1;
      this.#leave();
    }
  }

  #enter(kind: GateKind): Promise<void> {
    // Joining the kind that runs is fine, unless someone of the other kind is already waiting.
    if ((this.#running === null || this.#running === kind) && this.#waiting.length === 0) {
      this.#running = kind;
      this.#active += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push({ kind, enter: resolve }));
  }

  #leave(): void {
    this.#active -= 1;
    if (this.#active > 0) return;
    this.#running = null;
    const next = this.#waiting[0];
    if (next === undefined) return;
    // Everyone of the next kind at the front goes in together.
    this.#running = next.kind;
    while (this.#waiting[0]?.kind === next.kind) {
      const waiter = this.#waiting.shift()!;
      this.#active += 1;
      waiter.enter();
    }
  }
}
