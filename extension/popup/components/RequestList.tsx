import type { JSX } from 'preact';
import { useCallback, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { ConnectionRequest } from '../../../shared/models.js';
import type { Group, ReplyCode } from '../../../shared/status.js';
import type { SendState } from '../state.js';
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
  /** The element the list scrolls in (the popup's panel); found by its style when not given. */
  scroller?: { current: HTMLElement | null };
}

/** A row's height before it has been measured (a pending request with its reply button), px. */
export const ESTIMATED_ROW_PX = 72;
/** Rows rendered beyond each edge of the visible part. */
export const OVERSCAN_ROWS = 6;
/** The visible height assumed until the list is laid out (the popup's list area is smaller). */
const DEFAULT_VIEWPORT_PX = 600;

const isPlainKey = (e: KeyboardEvent) => !e.altKey && !e.ctrlKey && !e.metaKey;

/** The nearest ancestor that scrolls (the popup's panel), else the document's scroller. */
function scrollerOf(el: HTMLElement): HTMLElement {
  for (let node = el.parentElement; node !== null; node = node.parentElement) {
    const overflow = getComputedStyle(node).overflowY;
    if (overflow === 'auto' || overflow === 'scroll') return node;
  }
  return (document.scrollingElement as HTMLElement | null) ?? document.documentElement;
}

/** The first index whose row ends below `y` (offsets: n + 1 prefix sums). */
function indexAt(offsets: Float64Array, y: number): number {
  let lo = 0;
  let hi = offsets.length - 2;
  if (hi < 0) return 0;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (offsets[mid + 1]! > y) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

interface Viewport {
  /** Scroll position relative to the list's top, px (may be negative: content above the list). */
  top: number;
  height: number;
}

/**
 * The requests of one tab as a windowed list with a single tab stop (roving tabindex).
 *
 * Windowed: only the rows in view, a few beyond each edge, and the active row are in the DOM; the
 * rows not rendered are stood in for by padding (above and below) and spacers (between the window
 * and an active row far from it), sized by the rows' measured heights (by id; the median of those
 * measured until a row has been seen). Rendered rows are in normal flow, so rows of any height (a
 * reply's error, the open "More" group) never overlap. When a measurement corrects an estimate
 * above the rows in view, the list keeps the first row in view where it was (its own scroll
 * anchoring: the browser's is off for the list, see style.css, as it does not reliably follow
 * padding changes). Each row carries aria-setsize/aria-posinset, so a screen reader still hears
 * "3 of 1,000".
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
  sends,
  onReply,
  onRetry,
  focusRequest,
  onFocusRequestDone,
  apiRef,
  scroller: givenScroller,
}: RequestListProps) {
  const listRef = useRef<HTMLUListElement>(null);
  const scrollerRef = useRef<HTMLElement | null>(null);
  const [activeId, setActiveId] = useState<string | null>(null);
  const [expandedId, setExpandedId] = useState<string | null>(null);
  const [viewport, setViewport] = useState<Viewport>({ top: 0, height: DEFAULT_VIEWPORT_PX });
  /** Bumped when a measurement changed a height (the offsets follow). */
  const [measured, setMeasured] = useState(0);
  const heights = useRef(new Map<string, number>());
  const estimate = useRef(ESTIMATED_ROW_PX);
  const lastIndex = useRef(0);
  /** A row to focus (and scroll to) once it is rendered. */
  const pendingFocus = useRef<{ id: string; block: ScrollLogicalPosition; onlyIfLost: boolean } | null>(null);

  const indexById = useMemo(() => {
    const map = new Map<string, number>();
    items.forEach((r, i) => map.set(r.id, i));
    return map;
  }, [items]);

  let activeIndex = activeId === null ? -1 : (indexById.get(activeId) ?? -1);
  if (activeIndex === -1 && items.length > 0) activeIndex = Math.min(lastIndex.current, items.length - 1);
  const effectiveActive = items[activeIndex]?.id ?? null;

  // Where each row starts (n + 1 prefix sums of measured or estimated heights).
  const offsets = useMemo(() => {
    const out = new Float64Array(items.length + 1);
    let y = 0;
    for (let i = 0; i < items.length; i++) {
      out[i] = y;
      y += heights.current.get(items[i]!.id) ?? estimate.current;
    }
    out[items.length] = y;
    return out;
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `measured` stands for the heights map
  }, [items, measured]);

  // The window: the rows overlapping the viewport, plus overscan.
  const first = Math.max(0, indexAt(offsets, Math.max(0, viewport.top)) - OVERSCAN_ROWS);
  const last = Math.min(items.length, indexAt(offsets, Math.max(0, viewport.top + viewport.height)) + 1 + OVERSCAN_ROWS);
  const pinned = new Set<number>();
  if (activeIndex >= 0) pinned.add(activeIndex);
  const pendingIndex = pendingFocus.current === null ? undefined : indexById.get(pendingFocus.current.id);
  if (pendingIndex !== undefined) pinned.add(pendingIndex);
  const rendered: number[] = [];
  for (const i of [...pinned].sort((a, b) => a - b)) if (i < first) rendered.push(i);
  for (let i = first; i < last; i++) rendered.push(i);
  for (const i of [...pinned].sort((a, b) => a - b)) if (i >= last) rendered.push(i);

  const rowEl = (id: string): HTMLElement | undefined => {
    const list = listRef.current;
    if (list === null) return undefined;
    for (const child of Array.from(list.children) as HTMLElement[]) if (child.dataset.id === id) return child;
    return undefined;
  };

  /**
   * The first row in view and where it is in the list (from the list's top: scrolling does not
   * change it, only what renders above it does).
   */
  const anchor = useRef<{ id: string; y: number } | null>(null);

  const visibleTop = (scroller: HTMLElement) =>
    scroller === document.scrollingElement ? 0 : scroller.getBoundingClientRect().top + scroller.clientTop;

  const recordAnchor = () => {
    const list = listRef.current;
    const scroller = scrollerRef.current;
    anchor.current = null;
    if (list === null || scroller === null) return;
    const top = visibleTop(scroller);
    const listTop = list.getBoundingClientRect().top;
    for (const child of Array.from(list.children) as HTMLElement[]) {
      if (child.dataset.id === undefined) continue;
      const box = child.getBoundingClientRect();
      if (box.bottom > top) {
        anchor.current = { id: child.dataset.id, y: box.top - listTop };
        return;
      }
    }
  };

  const readViewport = useCallback(() => {
    const list = listRef.current;
    const scroller = scrollerRef.current;
    if (list === null || scroller === null) return;
    const height = scroller.clientHeight > 0 ? scroller.clientHeight : DEFAULT_VIEWPORT_PX;
    const top = visibleTop(scroller) - list.getBoundingClientRect().top;
    recordAnchor();
    setViewport((prev) => (prev.top === top && prev.height === height ? prev : { top, height }));
    // eslint-disable-next-line react-hooks/exhaustive-deps -- refs only
  }, []);

  /** The focus went with a request that left (or is elsewhere in the list): the list may take it. */
  const focusIsLost = () => {
    const focused = document.activeElement;
    return focused === null || focused === document.body || !(focused as HTMLElement).isConnected || (listRef.current?.contains(focused) ?? false);
  };

  const focusIndex = (index: number, block: ScrollLogicalPosition = 'nearest', onlyIfLost = false) => {
    const target = items[index];
    if (target === undefined) return false;
    setActiveId(target.id);
    lastIndex.current = index;
    const el = rowEl(target.id);
    if (el === undefined) {
      // Not in the DOM (far from the window): rendered next (it is pinned), then focused.
      pendingFocus.current = { id: target.id, block, onlyIfLost };
      setMeasured((n) => n + 1);
      return true;
    }
    if (!onlyIfLost || focusIsLost()) {
      el.scrollIntoView?.({ block });
      el.focus({ preventScroll: true });
      // A scroll of our own: the view is meant to move.
      readViewport();
    }
    return true;
  };

  apiRef.current = { focusActive: () => focusIndex(Math.max(0, activeIndex)) };

  // The scroller: followed while the list is mounted.
  useLayoutEffect(() => {
    const list = listRef.current;
    if (list === null) return;
    const scroller = givenScroller?.current ?? scrollerOf(list);
    scrollerRef.current = scroller;
    const target: EventTarget = scroller === document.scrollingElement ? window : scroller;
    target.addEventListener('scroll', readViewport, { passive: true });
    window.addEventListener('resize', readViewport);
    readViewport();
    return () => {
      target.removeEventListener('scroll', readViewport);
      window.removeEventListener('resize', readViewport);
    };
  }, [readViewport]);

  // After every render: measure the rendered rows, keep the view where it was, and carry out a
  // pending focus.
  useLayoutEffect(() => {
    const list = listRef.current;
    const scroller = scrollerRef.current;
    if (list === null) return;
    let changed = false;
    for (const child of Array.from(list.children) as HTMLElement[]) {
      const id = child.dataset.id;
      if (id === undefined) continue;
      const h = child.getBoundingClientRect().height;
      if (!(h > 0)) continue; // not laid out (hidden, or no layout at all)
      if (heights.current.get(id) !== h) {
        heights.current.set(id, h);
        changed = true;
      }
    }
    if (changed) {
      // Rows not yet seen count as the median of those measured (an open "More" does not skew it).
      const all = [...heights.current.values()].sort((a, b) => a - b);
      estimate.current = all[all.length >> 1]!;
      setMeasured((n) => n + 1);
    }
    // What changed above the first row in view (an estimate replaced by a measurement, a row added
    // at the top) must not move it: scroll by as much. At the very top, nothing is kept: a new
    // request there is to be seen.
    const kept = anchor.current;
    if (scroller !== null && kept !== null && scroller.scrollTop > 0) {
      const el = rowEl(kept.id);
      if (el !== undefined) {
        const delta = el.getBoundingClientRect().top - list.getBoundingClientRect().top - kept.y;
        if (Math.abs(delta) >= 1) scroller.scrollTop += delta;
      }
    }
    const wanted = pendingFocus.current;
    if (wanted !== null) {
      const el = rowEl(wanted.id);
      if (el !== undefined) {
        pendingFocus.current = null;
        if (!wanted.onlyIfLost || focusIsLost()) {
          el.scrollIntoView?.({ block: wanted.block });
          el.focus({ preventScroll: true });
        }
      } else if (!indexById.has(wanted.id)) {
        pendingFocus.current = null;
      }
    }
    // Where the view is now (after our own scrolls), for the next render to keep.
    readViewport();
  });

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

  const children: JSX.Element[] = [];
  let y = rendered.length > 0 ? offsets[rendered[0]!]! : 0;
  const paddingTop = y;
  for (let k = 0; k < rendered.length; k++) {
    const i = rendered[k]!;
    if (offsets[i]! > y) {
      // Rows between the window and a pinned row: one spacer of their height.
      children.push(<li key={`gap-${i}`} class="gap" role="presentation" aria-hidden="true" style={{ height: `${offsets[i]! - y}px` }} />);
    }
    const item = items[i]!;
    children.push(
      <RequestRow
        key={item.id}
        item={item}
        group={group}
        now={now}
        active={item.id === effectiveActive}
        expanded={item.id === expandedId}
        send={sends[item.id]}
        setSize={items.length}
        position={i + 1}
        onReply={onReply}
        onRetry={onRetry}
        onToggle={onToggle}
      />,
    );
    y = offsets[i + 1]!;
  }
  const paddingBottom = offsets[items.length]! - y;

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
