import { ConcurError } from './errors.js';
import { builtPage, type PageReading } from './decode-record.js';
import type { QueueGate } from './queue-gate.js';
import type { ConcurPage } from './record.js';

/**
 * Every page of API 3.2's queue. Since August 2023 its offset is a position (an integer), NextPage is
 * null when nothing more is there, and a PUT pops its request: "If you PUT between GETs, do not
 * reuse NextPage's offset" (notes §5). So NextPage only says whether there is more; the offset is
 * worked out here: where the last page ended, less one for every PUT since. The gate
 * (queue-gate.ts) keeps PUTs off the wire while a page is on it, so that count is exact for this
 * sweep's pages. A PUT of a request further on than the sweep has read makes the next page overlap
 * the last by one (read twice, stored once), never skip one.
 *
 * Unlike 3.0's opaque NextPage, a position can be known before the page in front of it comes back:
 * with a page `limit` given, `ahead` pages are on the wire while the caller stores one, so a sweep
 * costs about one round trip for every `ahead` pages instead of one a page (Concur's latency, not
 * the relay's work, is what bounds a sweep). Each is planned as if the pages before it come back
 * full; a page that does not (the end of the queue, or a Concur that sends a different number) ends
 * the sweep or has the pages planned after it asked for again from where it really ended. At the
 * end of a queue longer than a page this costs `ahead - 1` list calls that find nothing.
 *
 * A page's offset is taken when it enters the gate, after any PUT waiting before it. Only the count
 * is needed for the next offsets, so a page's records are built once the next is on the wire.
 */
export async function* queuePages(
  fetchPage: (offset: number) => Promise<PageReading>,
  gate: QueueGate,
  options: { maxPages: number; limit: number | undefined; ahead: number },
): AsyncGenerator<ConcurPage> {
  const { maxPages, limit } = options;
  const ahead = limit === undefined ? 1 : Math.max(1, options.ahead);
  // Where the next page asked for starts, and the PUTs counted when that was known.
  let cursor = { end: 0, pops: gate.pops };
  // Pages asked for under an older plan (or after the end) are not fetched once they enter the gate.
  let plan = 0;
  const ask = (asked = plan) =>
    gate.run('list', async () => {
      if (asked !== plan) return null;
      const pops = gate.pops;
      const offset = Math.max(0, cursor.end - (pops - cursor.pops));
      // Planned full; corrected below when it is not. Without a limit the count decides, once answered.
      cursor = { end: offset + (limit ?? 0), pops };
      const page = await fetchPage(offset);
      if (limit === undefined) cursor = { end: offset + page.count, pops };
      return { page, offset, pops };
    });
  type Asked = ReturnType<typeof ask>;
  const onTheWire: Asked[] = [];
  const send = (): void => {
    const next = ask();
    // Its failure is read when it is awaited; until then (or if it is dropped) it must not count as unhandled.
    next.catch(() => undefined);
    onTheWire.push(next);
  };

  send();
  try {
    for (let count = 1; ; count++) {
      // Never null: only pages of an older plan are skipped, and those are no longer on the wire.
      const { page, offset, pops } = (await onTheWire.shift()!)!;
      // An empty page is the end too, whatever NextPage says: the offset would not move.
      if (page.nextPage === null || page.count === 0) {
        yield builtPage(page);
        return;
      }
      if (count >= maxPages) {
        yield builtPage(page);
        throw new ConcurError('bad_response', `NextPage does not come to an end (stopped after ${count} pages)`);
      }
      if (limit !== undefined && page.count !== limit) {
        // The pages after it were planned from the wrong end: dropped, and asked for again from the
        // right one once they are answered (a list may hand out new request tokens: the newest must be the ones kept).
        plan++;
        await Promise.allSettled(onTheWire.splice(0));
        cursor = { end: offset + page.count, pops };
      }
      while (onTheWire.length < ahead) send();
      await new Promise((resolve) => setImmediate(resolve));
      yield builtPage(page);
    }
  } finally {
    // What is still on the wire is not read, but the sweep is over only once it is answered: no
    // list call outlives the sweep that made it (PUTs wait for it at the gate, and so does the next sweep).
    plan++;
    await Promise.allSettled(onTheWire);
  }
}
