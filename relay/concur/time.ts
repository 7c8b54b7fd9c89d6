import { ConcurError } from './errors.js';

// Concur's times carry no zone and are UTC: `2014-04-29T23:19:03`.
const CONCUR_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/i;

/** Concur time without zone (UTC) → ISO with Z; also accepts times that already carry Z or an offset, and fractional seconds. Throws on garbage. */
export function fromConcurTime(text: string): string {
  const match = CONCUR_TIME.exec(text.trim());
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
