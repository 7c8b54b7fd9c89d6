/** Anything the store accepts as a point in time: ISO-8601 text, epoch milliseconds or a Date. */
export type TimeInput = string | number | Date;

// The stored shape with values that are valid on every calendar (days up to 28): text like this is
// already what Date#toISOString would give back. Anything else (a 30 February) goes through Date.
const CANONICAL = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;
const LOCAL_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/**
 * The one time format the store writes: `YYYY-MM-DDTHH:MM:SS.sssZ` (what `Date#toISOString` gives).
 * Every stored time has exactly this shape, so comparing them as text compares them as times,
 * in SQLite and in PostgreSQL alike. A date-time without a zone is read as UTC.
 */
export function toIso(time: TimeInput): string {
  // Already in the stored shape (what the store and the codec hand around): nothing to do.
  if (typeof time === 'string' && CANONICAL.test(time)) return time;
  // Concur's times carry no zone and are UTC (README, "The JSON API"); JavaScript would read them as local time.
  const text = typeof time === 'string' && LOCAL_DATE_TIME.test(time) ? `${time}Z` : time;
  const date = text instanceof Date ? text : new Date(text);
  if (Number.isNaN(date.getTime())) throw new RangeError(`not a valid time: ${JSON.stringify(String(time))}`);
  return date.toISOString();
}

export function addMs(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}
