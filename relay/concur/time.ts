import { ConcurError } from './errors.js';

// Concur's times carry no zone and are UTC: `2014-04-29T23:19:03`.
const CONCUR_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/i;

// What Concur sends: no fraction, no zone. Read without a Date, as every request on a page carries one.
const PLAIN_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
}

/** A plain time that names a real second (no 2014-02-30, no 24:00), as Date would write it; else undefined. */
function plainTime(text: string): string | undefined {
  const match = PLAIN_TIME.exec(text);
  if (match === null) return undefined;
  const [y, mo, d, h, mi, s] = [match[1], match[2], match[3], match[4], match[5], match[6]].map(Number) as [number, number, number, number, number, number];
  const real = mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(y, mo) && h < 24 && mi < 60 && s < 60;
  return real ? `${text}.000Z` : undefined;
}

/** Concur time without zone (UTC) → ISO with Z; also accepts times that already carry Z or an offset, and fractional seconds. Throws on garbage. */
export function fromConcurTime(text: string): string {
  const trimmed = text.trim();
  const plain = plainTime(trimmed);
  if (plain !== undefined) return plain;
  const match = CONCUR_TIME.exec(trimmed);
  if (match) {
    const [y, mo, d, h, mi, s] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    const fraction = match[7] ?? '';
    const zone = match[8] ?? 'Z';
    const date = new Date(0);
    // setUTCFullYear, unlike Date.UTC, does not turn years 0–99 into 1900–1999.
    date.setUTCFullYear(y, mo - 1, d);
    date.setUTCHours(h, mi, s, Number(fraction.padEnd(3, '0').slice(0, 3)));
    // Date silently rolls 2014-02-30 into March and 24:00 into the next day; such a time is garbage.
    const readsBack =
      date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d &&
      date.getUTCHours() === h && date.getUTCMinutes() === mi && date.getUTCSeconds() === s;
    const offsetHours = zone.length > 1 ? Number(zone.slice(1, 3)) : 0;
    const offsetMinutes = zone.length > 1 ? Number(zone.slice(-2)) : 0;
    if (readsBack && offsetHours < 24 && offsetMinutes < 60) {
      const sign = zone.startsWith('-') ? -1 : 1;
      return new Date(date.getTime() - sign * (offsetHours * 60 + offsetMinutes) * 60_000).toISOString();
    }
  }
  throw new ConcurError('bad_response', `${JSON.stringify(text.slice(0, 40))} is not a Concur time (expected e.g. 2014-04-29T23:19:03)`);
}
