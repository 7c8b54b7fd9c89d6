import type { Summary } from '../../shared/models.js';
import type { EventLog, RelayState, StoredEventType } from '../store/index.js';

/** Stored events after which the summary may differ. `summary` itself is not one: no loop. */
const CHANGES_SUMMARY: ReadonlySet<StoredEventType> = new Set<StoredEventType>([
  'request.created',
  'request.updated',
  'reply.updated',
  'concur.state_changed',
]);

/**
 * What makes a summary worth announcing: counts, Concur's state and its last error (not poll
 * times), whether CRSUC can be sent. Not `autoConnect`: it changes only at start, and the store
 * announces that change itself (store/state.ts setAutoConnect), with no event for this to follow.
 */
export function sameAnnouncement(a: Summary, b: Summary): boolean {
  return (
    a.counts.pending === b.counts.pending &&
    a.counts.failed === b.counts.failed &&
    a.counts.connected === b.counts.connected &&
    a.concur.state === b.concur.state &&
    a.concur.lastError === b.concur.lastError &&
    a.exchange.state === b.exchange.state &&
    a.exchange.reason === b.exchange.reason
  );
}

export interface WatchSummaryOptions {
  /** Called when reading the summary or appending the event fails; default console.error. */
  onError?: (error: unknown) => void;
}

/**
 * Keeps `summary` events in the log: after a committed event that can change the summary
 * (request.*, reply.updated, concur.state_changed) it reads the summary and, when the
 * counts, Concur's state, Concur's last error or the exchange's availability (which changes with
 * the reply whose exchange found the credentials refused) differ from what it last announced, appends a
 * `summary` event — a stored event like the others, so a client replaying with Last-Event-ID
 * gets summaries too.
 *
 * The check runs once per burst, on a microtask after the commit that triggered it (a poll that
 * saves 50 requests gives one summary, not 50 checks), never inside another listener's call.
 * Checks never overlap: an event heard while one reads or appends makes one more check after it,
 * so two checks cannot announce the same summary and none misses the last change. It starts from
 * the last summary announced in the log, and announces the present one at once if it differs (a
 * relay, or a leader, stopped between a change and its announcement); with none in the log, from
 * the present one: nothing is announced until something changes. It resolves once that is read.
 * Its own `summary` events do not trigger it. Resolves to the unsubscribe function.
 *
 * Note: only changes that append an event are noticed; updateConcurStatus appends one only when
 * the state changes, so a new lastError under the same state shows with the next event.
 */
export async function watchSummary(
  store: { events: Pick<EventLog, 'append' | 'subscribe' | 'lastOf'>; state: Pick<RelayState, 'summary'> },
  options: WatchSummaryOptions = {},
): Promise<() => void> {
  const onError = options.onError ?? ((error: unknown) => console.error('summary watcher failed:', error));
  let last: Summary | undefined;
  let scheduled = false;
  /** A check (or the first read) is under way; `again`: an event came meanwhile. */
  let running = true;
  let again = false;
  let stopped = false;

  const checkOnce = async (): Promise<void> => {
    try {
      const now = await store.state.summary();
      if (last !== undefined && sameAnnouncement(now, last)) return;
      await store.events.append('summary', now);
      last = now;
    } catch (error) {
      onError(error);
    }
  };

  const check = async (): Promise<void> => {
    scheduled = false;
    running = true;
    try {
      do {
        again = false;
        if (stopped) return;
        await checkOnce();
      } while (again);
    } finally {
      running = false;
    }
  };

  const schedule = (): void => {
    scheduled = true;
    // check() catches every failure itself: nothing is left to reject.
    queueMicrotask(() => void check());
  };

  // Subscribed before the first read: an event that commits while it is read is checked after it.
  const unsubscribe = store.events.subscribe((event) => {
    if (stopped || !CHANGES_SUMMARY.has(event.type)) return;
    if (running) again = true;
    else if (!scheduled) schedule();
  });
  try {
    const announced = await store.events.lastOf('summary');
    if (announced?.type !== 'summary') last = await store.state.summary();
    else {
      last = announced.data;
      // What changed since (a leader that died before announcing it) is announced now.
      again = true;
    }
  } catch (error) {
    unsubscribe();
    throw error;
  } finally {
    running = false;
  }
  if (again && !stopped) schedule();

  return () => {
    stopped = true;
    unsubscribe();
  };
}
