import type { ConnectionRequest, Counts, Summary } from '../../shared/models.js';
import { GROUPS, type Group } from '../../shared/status.js';
import type { PopupState } from './state.js';
import { attention } from '../lib/attention.js';
import { displayGroup, sortTime } from './view.js';

/**
 * What the popup shows of its state (state.ts): each tab's requests in order, and the tab counts.
 */

type GroupLists = Readonly<Record<Group, readonly ConnectionRequest[]>>;

/** Where each request goes and when it sorts, once per request object (requests are immutable here). */
const placed = new WeakMap<ConnectionRequest, { group: Group; t: number }>();

function placeOf(r: ConnectionRequest): { group: Group; t: number } {
  let found = placed.get(r);
  if (found === undefined) {
    found = { group: displayGroup(r), t: sortTime(r) };
    placed.set(r, found);
  }
  return found;
}

/**
 * The requests of each tab, newest first; in Pending, what waits for a person comes before what
 * the relay is handling by itself (lib/attention.ts, which needs whether the relay asks a member
 * directory: its summary's `autoConnect.directory`).
 */
export function groupLists(items: ReadonlyMap<string, ConnectionRequest>, directory = false): GroupLists {
  const sorted: Record<Group, { r: ConnectionRequest; t: number; auto: number }[]> = { pending: [], failed: [], connected: [] };
  for (const r of items.values()) {
    const { group, t } = placeOf(r);
    const auto = group === 'pending' && attention(r, directory) === 'auto' ? 1 : 0;
    sorted[group].push({ r, t, auto });
  }
  const out = {} as Record<Group, ConnectionRequest[]>;
  for (const group of GROUPS) {
    out[group] = sorted[group]
      .sort((a, b) => a.auto - b.auto || b.t - a.t || (a.r.id < b.r.id ? -1 : a.r.id > b.r.id ? 1 : 0))
      .map((x) => x.r);
  }
  return out;
}

/**
 * The tab counts: the relay's summary, corrected for requests this popup already shows in
 * another group because a reply is on its way (the relay counts them where they still are).
 */
export function displayCounts(summary: Summary | null, items: ReadonlyMap<string, ConnectionRequest>): Counts {
  if (summary === null) {
    const lists = groupLists(items);
    return { pending: lists.pending.length, failed: lists.failed.length, connected: lists.connected.length };
  }
  const counts = { ...summary.counts };
  for (const r of items.values()) {
    if (r.reply === null) continue;
    const shown = displayGroup(r);
    if (shown !== r.group) {
      counts[r.group] = Math.max(0, counts[r.group] - 1);
      counts[shown] += 1;
    }
  }
  return counts;
}

/** Which group a request is shown in, if the popup knows it. */
export function groupOfRequest(state: PopupState, id: string): Group | undefined {
  const r = state.items.get(id);
  return r ? displayGroup(r) : undefined;
}
