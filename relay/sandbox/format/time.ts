/**
 * Concur's time stamps, as the seed writes LastModified and every error's Server-Time:
 * `2014-04-29T23:19:03`: UTC, with no zone designator and no fraction of a second.
 */
export function concurTime(ms: number): string {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) throw new RangeError(`${ms} is not a time`);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`
  );
}
