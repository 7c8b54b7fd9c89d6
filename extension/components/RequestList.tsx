import { useCallback, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { ConnectionRequest } from '../../shared/models.js';
import type { Group, ReplyCode } from '../../shared/status.js';
import type { SendState } from '../lib/popup-state.js';
import { RequestRow } from './RequestRow.js';

export interface ListApi {
  /** Focuses the active row (the first one if none); false when the list is empty. */
  focusActive(): boolean;
}

export interface RequestListProps {
  items: readonly ConnectionRequest[];
  group: Group;
  label: string;
  now: number;
  sends: Readonly<Record<string, SendState>>;
  onReply(id: string, code: ReplyCode): void;
  onRetry(id: string): void;
  /** Focus and scroll to this request (a notification's `#request=<id>`); seq re-triggers. */
  focusRequest: { id: string; seq: number } | null;
  /** Called once the focus request was carried out, so a later remount does not repeat it. */
  onFocusRequestDone(): void;
  apiRef: { current: ListApi | null };
}

const isPlainKey = (e: KeyboardEvent) => !e.altKey && !e.ctrlKey && !e.metaKey;

/**
 * The requests of one tab as a list with a single tab stop (roving tabindex).
 * Keys: ↓/j and ↑/k move between requests, Home/End jump, Enter on a request moves the focus to
 * its primary reply button (Enter again sends it; a failed request has none, so its "More"),
 * Esc goes back from a button to its request. Enter never sends by itself: a reply tells Concur
 * (and the traveller, by e-mail) something final, so it takes a deliberate second key.
 */
export function RequestList({
  items,
  group,
  label,
  now,
  sends,
  onReply,
  onRetry,
  focusRequest,
  onFocusRequestDone,
  apiRef,
}: RequestListProps) {
  const listRef = useRef<HTMLUListElement>(null);
  const [activeId, setActiveId] = useState<string | null>(null);
  const [expandedId, setExpandedId] = useState<string | null>(null);
  const lastIndex = useRef(0);

  let activeIndex = activeId === null ? -1 : items.findIndex((r) => r.id === activeId);
  if (activeIndex === -1 && items.length > 0) activeIndex = Math.min(lastIndex.current, items.length - 1);
  const effectiveActive = items[activeIndex]?.id ?? null;

  const rowAt = (index: number) => (listRef.current?.children[index] as HTMLElement | undefined) ?? undefined;

  const focusIndex = (index: number, scroll: 'nearest' | 'center' = 'nearest') => {
    const target = items[index];
    const el = rowAt(index);
    if (target === undefined || el === undefined) return false;
    setActiveId(target.id);
    lastIndex.current = index;
    el.scrollIntoView?.({ block: scroll });
    el.focus({ preventScroll: true });
    return true;
  };

  apiRef.current = { focusActive: () => focusIndex(Math.max(0, activeIndex)) };

  // The active request left this list (a reply moved it, or the search hides it): the next one
  // takes its place, and takes the focus if the focus went with the request.
  useLayoutEffect(() => {
    if (activeId === null) return;
    const index = items.findIndex((r) => r.id === activeId);
    if (index !== -1) {
      lastIndex.current = index;
      return;
    }
    const next = Math.min(lastIndex.current, items.length - 1);
    const focused = document.activeElement;
    const focusLost = focused === null || focused === document.body || (listRef.current?.contains(focused) ?? false);
    setActiveId(items[next]?.id ?? null);
    if (focusLost && next >= 0) rowAt(next)?.focus();
  }, [items, activeId]);

  useLayoutEffect(() => {
    if (focusRequest === null) return;
    const index = items.findIndex((r) => r.id === focusRequest.id);
    if (index !== -1) focusIndex(index, 'center');
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
    const index = Array.prototype.indexOf.call(listRef.current?.children ?? [], row) as number;
    switch (e.key) {
      case 'ArrowDown':
      case 'j':
        if (focusIndex(Math.min(index + 1, items.length - 1))) e.preventDefault();
        break;
      case 'ArrowUp':
      case 'k':
        if (focusIndex(Math.max(index - 1, 0))) e.preventDefault();
        break;
      case 'Home':
        if (onRow && focusIndex(0)) e.preventDefault();
        break;
      case 'End':
        if (onRow && focusIndex(items.length - 1)) e.preventDefault();
        break;
      case 'Enter':
        if (onRow) {
          // The primary reply; a row without one (failed) offers its "More" button instead.
          const primary = row.querySelector<HTMLElement>('[data-primary]') ?? row.querySelector<HTMLElement>('.btn-more');
          if (primary !== null) {
            e.preventDefault();
            primary.focus();
          }
        }
        break;
      case 'Escape':
        if (!onRow) {
          e.preventDefault();
          setExpandedId(null);
          row.focus();
        }
        break;
    }
  };

  const onFocusIn = (e: FocusEvent) => {
    const row = (e.target as HTMLElement).closest<HTMLElement>('li[data-id]');
    const id = row?.dataset.id;
    if (id !== undefined && id !== activeId) setActiveId(id);
  };

  return (
    <ul class="list" role="list" aria-label={label} ref={listRef} onKeyDown={onKeyDown} onFocusIn={onFocusIn}>
      {items.map((item) => (
        <RequestRow
          key={item.id}
          item={item}
          group={group}
          now={now}
          active={item.id === effectiveActive}
          expanded={item.id === expandedId}
          send={sends[item.id]}
          onReply={onReply}
          onRetry={onRetry}
          onToggle={onToggle}
        />
      ))}
    </ul>
  );
}
