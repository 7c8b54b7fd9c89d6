import { storage } from 'wxt/utils/storage';
import type { Summary } from '../../shared/models.js';
import { attention, waitingForPerson } from '../lib/attention.js';
import { concurProblem, RelayProblem, type Problem } from '../lib/problems.js';
import { createRelayClient } from '../lib/relay-client.js';
import { loadSettings } from '../lib/settings.js';
import { applyBadge, badgeView, worstProblem } from './badge.js';
import { notifyAutoConnected } from './auto-notice.js';
import { notifyPending } from './notifications.js';

/**
 * One refresh: settings → relay (summary + every pending request) → badge and notifications (of
 * what waits for a person, lib/attention.ts; a line for what auto-connect did, auto-notice.ts), and
 * a snapshot in `local:sync` that the popup may read for a first paint. Refreshes never overlap:
 * a call while one runs is answered by one more run right after it (many calls, one extra run).
 */

export interface SyncSnapshot {
  /** When this refresh ended (ISO time). */
  at: string;
  /** What stands between the user and the list, if anything (the badge's problem). */
  problem: Problem | null;
  /** The relay's own message for a relay_error, never a key. */
  detail: string | null;
  /** The last summary the relay gave (kept when a later refresh fails). */
  summary: Summary | null;
  /** When `summary` was read (ISO time), or null. */
  summaryAt: string | null;
  /** The ids pending at the last good refresh. */
  pendingIds: string[];
  /** How many of them waited for a person (the badge's count; lib/attention.ts), or null before the first good refresh. */
  waiting: number | null;
}

export const syncSnapshotItem = storage.defineItem<SyncSnapshot | null>('local:sync', { fallback: null });

interface RefreshOptions {
  fetch?: typeof fetch;
}

async function runRefresh(options: RefreshOptions): Promise<SyncSnapshot> {
  const previous = await syncSnapshotItem.getValue().catch(() => null);
  const now = (): string => new Date().toISOString();
  let snapshot: SyncSnapshot;

  const settings = await loadSettings().catch(() => null);
  if (settings === null) {
    snapshot = { at: now(), problem: 'not_configured', detail: null, summary: null, summaryAt: null, pendingIds: [], waiting: null };
    await applyBadge(badgeView({ problem: 'not_configured' }));
    await syncSnapshotItem.setValue(snapshot);
    return snapshot;
  }

  try {
    const client = createRelayClient(settings, options.fetch);
    const [summary, pending] = await Promise.all([client.summary(), client.allRequests('pending')]);
    const problem = worstProblem([concurProblem(summary.concur.state)]) ?? null;
    // The relay says whether it asks a member directory about each new request (lib/attention.ts).
    const directory = summary.autoConnect.directory;
    // Only what waits for a person counts and is announced; auto-connect has the rest in hand.
    const waiting = waitingForPerson(pending, directory);
    const auto = pending.filter((request) => attention(request, directory) === 'auto').length;
    await applyBadge(badgeView({ problem: problem ?? undefined, pending: waiting.length, auto }));
    await notifyPending(waiting, settings);
    // A nicety beside the badge: a relay that cannot list connections now still has a badge.
    await notifyAutoConnected((since, max) => client.connectionsSince(since, max), settings, Date.now()).catch(() => undefined);
    snapshot = {
      at: now(),
      problem,
      detail: null,
      summary,
      summaryAt: now(),
      pendingIds: pending.map((request) => request.id),
      waiting: waiting.length,
    };
  } catch (error) {
    const problem: Problem = error instanceof RelayProblem ? error.problem : 'relay_error';
    const detail = error instanceof RelayProblem ? (error.detail ?? null) : null;
    // Keep what we knew: the popup can still show it, marked as out of date.
    const known = previous !== null && previous.summary !== null ? previous : null;
    await applyBadge(badgeView({ problem, pending: known?.waiting ?? known?.summary?.counts.pending }));
    snapshot = {
      at: now(),
      problem,
      detail,
      summary: known?.summary ?? null,
      summaryAt: known?.summaryAt ?? null,
      pendingIds: known?.pendingIds ?? [],
      waiting: known?.waiting ?? null,
    };
  }
  await syncSnapshotItem.setValue(snapshot);
  return snapshot;
}

let current: Promise<SyncSnapshot> | undefined;
let queued: Promise<SyncSnapshot> | undefined;

/** Runs one refresh (or joins the one queued behind a running one). Never rejects. */
export function refresh(options: RefreshOptions = {}): Promise<SyncSnapshot> {
  if (current === undefined) {
    current = runRefresh(options)
      .catch(
        (): SyncSnapshot => ({
          at: new Date().toISOString(),
          problem: 'relay_error',
          detail: null,
          summary: null,
          summaryAt: null,
          pendingIds: [],
          waiting: null,
        }),
      )
      .finally(() => {
        current = undefined;
      });
    return current;
  }
  queued ??= current.then(() => {
    queued = undefined;
    return refresh(options);
  });
  return queued;
}
