/**
 * At most `size` refreshes at Concur at once, for the worker and the broker's route together.
 * Waiters are served in order, urgent ones first: a back office waiting on a token it asked for
 * goes before the worker's next scheduled refresh, but never past the limit.
 */
export class Slots {
  #free: number;
  readonly #urgent: Array<() => void> = [];
  readonly #normal: Array<() => void> = [];

  constructor(readonly size: number) {
    this.#free = size;
  }

  /** Slots taken right now. */
  get busy(): number {
    return this.size - this.#free;
  }

  /** Resolves with the function that gives the slot back (calling it twice gives it back once). */
  async acquire(urgent: boolean): Promise<() => void> {
    if (this.#free > 0) {
      this.#free--;
    } else {
      // The slot is handed over by release() without ever being free in between.
      await new Promise<void>((resolve) => (urgent ? this.#urgent : this.#normal).push(resolve));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#urgent.shift() ?? this.#normal.shift();
      if (next === undefined) this.#free++;
      else next();
    };
  }
}
