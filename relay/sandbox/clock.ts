/**
 * The sandbox's sense of time. Everything that expires (request tokens, access tokens, refresh
 * tokens) reads this clock, so tests can move time instead of waiting for it.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** A clock that can be moved forward: what `POST /_sandbox/clock` needs. */
export interface AdjustableClock extends Clock {
  advance(ms: number): void;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to. */
export class ManualClock implements AdjustableClock {
  #now: number;

  constructor(start: number | Date = Date.now()) {
    this.#now = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): void {
    this.#now += ms;
  }

  set(time: number | Date): void {
    this.#now = typeof time === 'number' ? time : time.getTime();
  }
}

/** Another clock plus an offset, for when the injected clock is not a ManualClock. */
export class OffsetClock implements AdjustableClock {
  #offset = 0;

  constructor(private readonly base: Clock) {}

  now(): number {
    return this.base.now() + this.#offset;
  }

  advance(ms: number): void {
    this.#offset += ms;
  }
}

/** The clock the sandbox uses: a ManualClock as given, anything else wrapped so it can be advanced. */
export function adjustable(clock: Clock = systemClock): AdjustableClock {
  return clock instanceof ManualClock ? clock : new OffsetClock(clock);
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
