import { useCallback, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { ConnectionRequest } from '../../../shared/models.js';
import type { Group, ReplyCode } from '../../../shared/status.js';
import type { ConnectionsByRequest } from '../connections.js';
import type { SendState } from '../state.js';
import { useListWindow, windowRows } from './list-window.js';
import { RequestRow } from './RequestRow.js';

export interface ListApi {
  /** Focuses the active row (the first one if none); false when the list is empty. */
  focusActive(): boolean;
}

interface RequestListProps {
  items: readonly ConnectionRequest[];
  group: Group;
  label: string;
  now: number;
  /** Whether the relay asks a member directory (its summary's `autoConnect.directory`; lib/attention.ts). */
  directory: boolean;
  sends: Readonly<Record<string, SendState>>;
  /** The key may send replies (view.ts mayReply): otherwise no row offers any. */
  canReply: boolean;
  /** Why Connected cannot be used now (view.ts connectBlocked), or null. */
  connectBlocked: string | null;
  /** The relay's connections, by request: each row shows its own. */
  connections: ConnectionsByRequest;
  onReply(id: string, code: ReplyCode): void;
  onRetry(id: string): void;
  /** Focus and scroll to this request (a notification's `#request=<id>`); seq re-triggers. */
  focusRequest: { id: string; seq: number } | null;
  /** Called once the focus request was carried out, so a later remount does not repeat it. */
  onFocusRequestDone(): void;
  apiRef: { current: ListApi | null };
  /** The element the list scrolls in (the popup's panel); found by its style when not given. */
  scroller?: { current: HTMLElement | null };
}

const isPlainKey = (e: KeyboardEvent) => !e.altKey && !e.ctrlKey && !e.metaKey;

/** The request a movement key goes to from `index`, of `count` (Home and End only from the row itself). */
function moveTarget(key: string, index: number, count: number, onRow: boolean): number | undefined {
  switch (key) {
    case 'ArrowDown':
    case 'j':
      return Math.min(index + 1, count - 1);
    case 'ArrowUp':
    case 'k':
      return Math.max(index - 1, 0);
    case 'Home':
      return onRow ? 0 : undefined;
    case 'End':
      return onRow ? count - 1 : undefined;
    default:
      return undefined;
  }
}

/**
 * The requests of one tab as a windowed list (list-window.tsx: only the rows in view are in the
 * DOM) with a single tab stop (roving tabindex). Each row carries aria-setsize/aria-posinset, so a
 * screen reader still hears "3 of 1,000".
 *
 * Keys: ↓/j and ↑/k move between requests, Home/End jump (to any request: a row that is not in the
 * DOM is rendered, scrolled into view and focused), Enter on a request moves the focus to its
 * primary reply button (Enter again sends it; a failed request has none, so its "More"), Esc goes
 * back from a button to its request. Enter never sends by itself: a reply tells Concur (and the
 * traveller, by e-mail) something final, so it takes a deliberate second key.
 */
export function RequestList({
  items,
  group,
  label,
  now,
  directory,
  sends,
  canReply,
  connectBlocked,
  connections,
  onReply,
  onRetry,
  focusRequest,
  onFocusRequestDone,
  apiRef,
  scroller: givenScroller,
}: RequestListProps) {
  const listRef = useRef<HTMLUListElement>(null);
  const [activeId, setActiveId] = useState<string | null>(null);
  const [expandedId, setExpandedId] = useState<string | null>(null);
  const lastIndex = useRef(0);

  const indexById = useMemo(() => {
    const map = new Map<string, number>();
    items.forEach((r, i) => map.set(r.id, i));
    return map;
  }, [items]);

  let activeIndex = activeId === null ? -1 : (indexById.get(activeId) ?? -1);
  if (activeIndex === -1 && items.length > 0) activeIndex = Math.min(lastIndex.current, items.length - 1);
  const effectiveActive = items[activeIndex]?.id ?? null;

  const view = useListWindow({ items, indexById, activeIndex, listRef, scroller: givenScroller });
  const { focusIsLost } = view;

  const focusIndex = (index: number, block: ScrollLogicalPosition = 'nearest', onlyIfLost = false) => {
    const target = items[index];
    if (target === undefined) return false;
    setActiveId(target.id);
    lastIndex.current = index;
    view.focusRow(target.id, block, onlyIfLost);
    return true;
  };

  apiRef.current = { focusActive: () => focusIndex(Math.max(0, activeIndex)) };

  // The active request left this list (a reply moved it, or the search hides it): the next one
  // takes its place, and takes the focus if the focus went with the request.
  useLayoutEffect(() => {
    if (activeId === null) return;
    const index = indexById.get(activeId);
    if (index !== undefined) {
      lastIndex.current = index;
      return;
    }
    const next = Math.min(lastIndex.current, items.length - 1);
    const lost = focusIsLost();
    setActiveId(items[next]?.id ?? null);
    if (lost && next >= 0) focusIndex(next, 'nearest', true);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- on a new list or a new active row only
  }, [items, activeId]);

  useLayoutEffect(() => {
    if (focusRequest === null) return;
    const index = indexById.get(focusRequest.id);
    if (index !== undefined) focusIndex(index, 'center');
    onFocusRequestDone();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- only when a new request is pointed at
  }, [focusRequest]);

  const onToggle = useCallback((id: string) => setExpandedId((open) => (open === id ? null : id)), []);

  const onKeyDown = (e: KeyboardEvent) => {
    if (!isPlainKey(e)) return;
    const target = e.target as HTMLElement;
    const row = target.closest<HTMLElement>('li[data-id]');
    if (row === null) return;
    const onRow = target === row;
    const index = indexById.get(row.dataset.id ?? '');
    if (index === undefined) return;
    const to = moveTarget(e.key, index, items.length, onRow);
    if (to !== undefined) {
      if (focusIndex(to)) e.preventDefault();
    } else if (e.key === 'Enter' && onRow) {
      // The primary reply; a row without one (failed) offers its "More" button instead.
      const primary = row.querySelector<HTMLElement>('[data-primary]') ?? row.querySelector<HTMLElement>('.btn-more');
      if (primary !== null) {
        e.preventDefault();
        primary.focus();
      }
    } else if (e.key === 'Escape' && !onRow) {
      e.preventDefault();
      setExpandedId(null);
      row.focus();
    }
  };

  const onFocusIn = (e: FocusEvent) => {
    const row = (e.target as HTMLElement).closest<HTMLElement>('li[data-id]');
    const id = row?.dataset.id;
    if (id !== undefined && id !== activeId) setActiveId(id);
  };

  const { children, paddingTop, paddingBottom } = windowRows(view, (i) => {
    const item = items[i]!;
    return (
      <RequestRow
        key={item.id}
        item={item}
        group={group}
        now={now}
        directory={directory}
        active={item.id === effectiveActive}
        expanded={item.id === expandedId}
        send={sends[item.id]}
        canReply={canReply}
        connectBlocked={connectBlocked}
        connection={connections.get(item.id)}
        setSize={items.length}
        position={i + 1}
        onReply={onReply}
        onRetry={onRetry}
        onToggle={onToggle}
      />
    );
  });

  return (
    <ul
      class="list"
      role="list"
      aria-label={label}
      ref={listRef}
      onKeyDown={onKeyDown}
      onFocusIn={onFocusIn}
      style={{ paddingTop: `${paddingTop}px`, paddingBottom: `${paddingBottom}px` }}
    >
      {children}
    </ul>
  );
}
