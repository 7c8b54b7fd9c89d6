import * as z from 'zod/mini';

/** ISO-8601 in UTC with a `Z`, the only time format the API speaks. */
export const IsoTime = z.iso.datetime({ offset: false });

/** One page of a list: its items, and the cursor of the next page (null on the last). */
export function pageOf<T extends z.ZodMiniType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.nullable(z.string()) });
}

/** The paging of a list query: a whole `limit` from 1 to `max` (default `fallback`), and the opaque `cursor`. */
export function pagingOf(max: number, fallback: number) {
  return {
    limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(max)), fallback),
    cursor: z.optional(z.string().check(z.minLength(1))),
  };
}
