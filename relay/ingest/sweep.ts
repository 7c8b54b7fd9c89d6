import type { ConcurClient } from '../concur/client.js';
import type { ConcurRecord } from '../concur/record.js';
import type { Requests } from '../store/index.js';
import type { PassSignal } from '../workers/loop.js';

/**
 * One walk through Concur's list: each status, every page, following NextPage to the end, saved
 * as it arrives. Pages are written several to a transaction while Concur answers quickly (a
 * commit costs more than the ten rows in it): at most `groupRecords` records, and none held longer
 * than `groupWaitMs` once the next page is slow to come. The client asks for the next page before
 * this one is saved, so storing overlaps Concur's work. A walk that fails or stops half-way keeps
 * every page it read.
 */

/** How many created/updated ids one log line lists. */
const LOGGED_IDS = 20;

export interface WalkOptions {
  client: Pick<ConcurClient, 'pages'>;
  store: { requests: Pick<Requests, 'upsertFromConcur'> };
  now: () => number;
  statuses: readonly string[];
  pageLimit: number;
  groupRecords: number;
  groupWaitMs: number;
}

export interface Walked {
  counts: { created: number; updated: number; seen: number; pages: number };
  /** The first created and updated ids, for the log. */
  createdIds: string[];
  updatedIds: string[];
  /** stop() ended the walk between two pages. */
  cutShort: boolean;
  /** Set when the walk failed (reading Concur or writing the store); what it read is kept. */
  failure: { error: unknown } | null;
}

export async function walkPages(options: WalkOptions, signal: PassSignal): Promise<Walked> {
  const { client, store, now, statuses, pageLimit, groupRecords, groupWaitMs } = options;
  const walked: Walked = {
    counts: { created: 0, updated: 0, seen: 0, pages: 0 },
    createdIds: [],
    updatedIds: [],
    cutShort: false,
    failure: null,
  };
  const { counts } = walked;

  // Pages read and not yet written.
  let group: ConcurRecord[] = [];
  const flush = async (): Promise<void> => {
    if (group.length === 0) return;
    const records = group;
    group = [];
    const saved = await store.requests.upsertFromConcur(records, now());
    counts.created += saved.created.length;
    counts.updated += saved.updated.length;
    for (const request of saved.created) if (walked.createdIds.length < LOGGED_IDS) walked.createdIds.push(request.id);
    for (const request of saved.updated) if (walked.updatedIds.length < LOGGED_IDS) walked.updatedIds.push(request.id);
  };

  try {
    pages: for (const status of statuses) {
      const pages = client.pages({ status, limit: pageLimit });
      try {
        for (;;) {
          const next = pages.next();
          // Read below; if a write fails first, its outcome no longer matters.
          next.catch(() => undefined);
          // Concur is slow to send the next page: what has arrived is written while it waits.
          if (group.length > 0 && !(await settlesWithin(next, groupWaitMs))) await flush();
          const step = await next;
          if (step.done) break;
          counts.pages++;
          counts.seen += step.value.items.length;
          for (const record of step.value.items) group.push(record);
          if (group.length >= groupRecords) await flush();
          if (signal.stopping) {
            walked.cutShort = true;
            break pages;
          }
        }
      } finally {
        // Ends the generator (a request it has under way is left unread).
        void pages.return(undefined).catch(() => undefined);
      }
    }
  } catch (error) {
    walked.failure = { error };
  }
  try {
    await flush();
  } catch (error) {
    walked.failure ??= { error };
  }
  return walked;
}

/** Whether `promise` settles (either way) within `ms`; it is not awaited beyond that. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}
