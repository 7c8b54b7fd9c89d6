import { ConcurError } from './errors.js';
import { builtPage, type PageReading } from './decode-record.js';
import type { QueueGate } from './queue-gate.js';
import type { ConcurPage } from './record.js';

/**
 * Every page of API 3.2's queue. Since August 2023 its offset is a position (an integer), NextPage is
 * null when nothing more is there, and a PUT pops its request: "If you PUT between GETs, do not
 * reuse NextPage's offset" (notes §5). So NextPage only says whether there is more; the offset is
 * worked out here: where the last page ended, less one for every PUT since it was answered. The
 * gate (queue-gate.ts) keeps PUTs off the wire while a page is on it, so that count is exact for
 * this sweep's pages. A PUT of a request further on than the sweep has read makes the next page
 * overlap the last by one (read twice, stored once), never skip one.
 *
 * As with 3.0 the next page is asked for before this one is handed over, so storing overlaps
 * Concur's work; its offset is taken when it enters the gate, after any PUT waiting before it. Only
 * the count is needed for that offset, so a page's records are built once the next is on the wire.
 */
export async function* queuePages(
  fetchPage: (offset: number) => Promise<PageReading>,
  gate: QueueGate,
  maxPages: number,
): AsyncGenerator<ConcurPage> {
  // Where the next page starts if nothing is popped, and the PUTs counted when that was known.
  let end = 0;
  let popsAtEnd = gate.pops;
  const ask = () =>
    gate.run('list', async () => {
      const offset = Math.max(0, end - (gate.pops - popsAtEnd));
      const page = await fetchPage(offset);
      end = offset + page.count;
      popsAtEnd = gate.pops;
      return page;
    });

  let page = await ask();
  for (let count = 1; ; count++) {
    // An empty page is the end too, whatever NextPage says: the offset would not move.
    if (page.nextPage === null || page.count === 0) {
      yield builtPage(page);
      return;
    }
    if (count >= maxPages) {
      yield builtPage(page);
      throw new ConcurError('bad_response', `NextPage does not come to an end (stopped after ${count} pages)`);
    }
    const next = ask();
    // Its failure is read below, when it is awaited; until then it must not count as unhandled.
    next.catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    yield builtPage(page);
    page = await next;
  }
}

