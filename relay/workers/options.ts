/**
 * Small guards shared by the background workers (poller, outbox, webhook delivery): their
 * tuning options are checked once at construction, and their last-resort logging never throws.
 */

export function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a finite number > 0, not ${value}`);
  return value;
}

export function whole(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a whole number ≥ 1, not ${value}`);
  return value;
}

/** Runs a log call whose failure must not take the worker down with it. */
export function quietly(write: () => void): void {
  try {
    write();
  } catch {
    // nothing left to tell
  }
}
