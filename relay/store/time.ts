/** Anything the store accepts as a point in time: ISO-8601 text, epoch milliseconds or a Date. */
export type TimeInput = string | number | Date;

const LOCAL_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/**
 * The one time format the store writes: `YYYY-MM-DDTHH:MM:SS.sssZ` (what `Date#toISOString` gives).
 * Every stored time has exactly this shape, so comparing them as text compares them as times,
 * in SQLite and in PostgreSQL alike. A date-time without a zone is read as UTC.
 */
export function toIso(time: TimeInput): string {
  // Concur's times carry no zone and are UTC (DESIGN.md); JavaScript would read them as local time.
  const text = typeof time === 'string' && LOCAL_DATE_TIME.test(time) ? `${time}Z` : time;
  const date = text instanceof Date ? text : new Date(text);
  if (Number.isNaN(date.getTime())) throw new RangeError(`not a valid time: ${JSON.stringify(String(time))}`);
  return date.toISOString();
}

export function addMs(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}
