import type { JSX } from 'preact';
import { useCallback, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { ConnectionRequest } from '../../../shared/models.js';

/**
 * The window of a long list (RequestList): only the rows in view, a few beyond each edge, and the
 * pinned rows (the active one, one about to be focused) are in the DOM; the rows not rendered are
 * stood in for by padding (above and below) and spacers (between the window and a pinned row far
 * from it), sized by the rows' measured heights (by id; the median of those measured until a row
 * has been seen). Rendered rows are in normal flow, so rows of any height (a reply's error, the
 * open "More" group) never overlap. When a measurement corrects an estimate above the rows in
 * view, the list keeps the first row in view where it was (its own scroll anchoring: the
 * browser's is off for the list, see entrypoints/popup/style.css, as it does not reliably follow
 * padding changes).
 */

/** A row's height before it has been measured (a pending request with its reply button), px. */
export const ESTIMATED_ROW_PX = 72;
/** Rows rendered beyond each edge of the visible part. */
const OVERSCAN_ROWS = 6;
/** The visible height assumed until the list is laid out (the popup's list area is smaller). */
const DEFAULT_VIEWPORT_PX = 600;

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

/** The rows to render, in order: those overlapping the viewport plus overscan, and the pinned ones. */
function renderedRows(offsets: Float64Array, viewport: Viewport, pinned: ReadonlySet<number>): number[] {
  const count = offsets.length - 1;
  const first = Math.max(0, indexAt(offsets, Math.max(0, viewport.top)) - OVERSCAN_ROWS);
  const last = Math.min(count, indexAt(offsets, Math.max(0, viewport.top + viewport.height)) + 1 + OVERSCAN_ROWS);
  const rendered: number[] = [];
  for (const i of [...pinned].sort((a, b) => a - b)) if (i < first) rendered.push(i);
  for (let i = first; i < last; i++) rendered.push(i);
  for (const i of [...pinned].sort((a, b) => a - b)) if (i >= last) rendered.push(i);
  return rendered;
}

/** The row element of a request, if it is rendered. */
function rowIn(list: HTMLElement, id: string): HTMLElement | undefined {
  for (const child of Array.from(list.children) as HTMLElement[]) if (child.dataset.id === id) return child;
  return undefined;
}

const visibleTop = (scroller: HTMLElement) =>
  scroller === document.scrollingElement ? 0 : scroller.getBoundingClientRect().top + scroller.clientTop;

/**
 * The first row in view and where it is in the list (from the list's top: scrolling does not
 * change it, only what renders above it does), or null.
 */
function firstInView(list: HTMLElement, scroller: HTMLElement): { id: string; y: number } | null {
  const top = visibleTop(scroller);
  const listTop = list.getBoundingClientRect().top;
  for (const child of Array.from(list.children) as HTMLElement[]) {
    if (child.dataset.id === undefined) continue;
    const box = child.getBoundingClientRect();
    if (box.bottom > top) return { id: child.dataset.id, y: box.top - listTop };
  }
  return null;
}

/** Records the heights of the rendered rows (by request id); true when one changed. */
function measureRows(list: HTMLElement, heights: Map<string, number>): boolean {
  let changed = false;
  for (const child of Array.from(list.children) as HTMLElement[]) {
    const id = child.dataset.id;
    if (id === undefined) continue;
    const h = child.getBoundingClientRect().height;
    if (!(h > 0)) continue; // not laid out (hidden, or no layout at all)
    if (heights.get(id) !== h) {
      heights.set(id, h);
      changed = true;
    }
  }
  return changed;
}

interface ListWindowOptions {
  items: readonly ConnectionRequest[];
  indexById: ReadonlyMap<string, number>;
  /** The active row (-1: none): always rendered, wherever it is. */
  activeIndex: number;
  listRef: { current: HTMLUListElement | null };
  /** The element the list scrolls in; found by its style when not given. */
  scroller: { current: HTMLElement | null } | undefined;
}

interface ListWindow {
  /** The indexes of the rows to render, in order: the window and the pinned rows outside it. */
  rendered: number[];
  /** Where each row starts: n + 1 prefix sums of the measured or estimated heights. */
  offsets: Float64Array;
  /**
   * Scrolls a row into view (`block`) and focuses it; a row outside the window is rendered first
   * and focused once it is. With `onlyIfLost`, only when the list may take the focus (focusIsLost).
   */
  focusRow(id: string, block: ScrollLogicalPosition, onlyIfLost: boolean): void;
  /** The focus went with a request that left (or is elsewhere in the list): the list may take it. */
  focusIsLost(): boolean;
}

export function useListWindow({ items, indexById, activeIndex, listRef, scroller: givenScroller }: ListWindowOptions): ListWindow {
  const scrollerRef = useRef<HTMLElement | null>(null);
  const [viewport, setViewport] = useState<Viewport>({ top: 0, height: DEFAULT_VIEWPORT_PX });
  /** Bumped when a measurement changed a height (the offsets follow). */
  const [measured, setMeasured] = useState(0);
  const heights = useRef(new Map<string, number>());
  const estimate = useRef(ESTIMATED_ROW_PX);
  /** A row to focus (and scroll to) once it is rendered. */
  const pendingFocus = useRef<{ id: string; block: ScrollLogicalPosition; onlyIfLost: boolean } | null>(null);

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

  const pinned = new Set<number>();
  if (activeIndex >= 0) pinned.add(activeIndex);
  const pendingIndex = pendingFocus.current === null ? undefined : indexById.get(pendingFocus.current.id);
  if (pendingIndex !== undefined) pinned.add(pendingIndex);
  const rendered = renderedRows(offsets, viewport, pinned);

  const rowEl = (id: string): HTMLElement | undefined => (listRef.current === null ? undefined : rowIn(listRef.current, id));

  /** The first row in view when the view was last read (firstInView), kept there by the next render. */
  const anchor = useRef<{ id: string; y: number } | null>(null);

  const recordAnchor = () => {
    const list = listRef.current;
    const scroller = scrollerRef.current;
    anchor.current = list === null || scroller === null ? null : firstInView(list, scroller);
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

  const focusIsLost = () => {
    const focused = document.activeElement;
    return focused === null || focused === document.body || !(focused as HTMLElement).isConnected || (listRef.current?.contains(focused) ?? false);
  };

  const focusRow = (id: string, block: ScrollLogicalPosition, onlyIfLost: boolean) => {
    const el = rowEl(id);
    if (el === undefined) {
      // Not in the DOM (far from the window): rendered next (it is pinned), then focused.
      pendingFocus.current = { id, block, onlyIfLost };
      setMeasured((n) => n + 1);
      return;
    }
    if (!onlyIfLost || focusIsLost()) {
      el.scrollIntoView?.({ block });
      el.focus({ preventScroll: true });
      // A scroll of our own: the view is meant to move.
      readViewport();
    }
  };

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
    if (measureRows(list, heights.current)) {
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

  return { rendered, offsets, focusRow, focusIsLost };
}

/**
 * The rendered rows in list order, a spacer before each one that follows a gap (the rows between
 * the window and a pinned row), and the padding that stands for the rows above and below.
 */
export function windowRows(
  { rendered, offsets }: Pick<ListWindow, 'rendered' | 'offsets'>,
  row: (index: number) => JSX.Element,
): { children: JSX.Element[]; paddingTop: number; paddingBottom: number } {
  const children: JSX.Element[] = [];
  let y = rendered.length > 0 ? offsets[rendered[0]!]! : 0;
  const paddingTop = y;
  for (let k = 0; k < rendered.length; k++) {
    const i = rendered[k]!;
    if (offsets[i]! > y) {
      // Rows between the window and a pinned row: one spacer of their height.
      children.push(<li key={`gap-${i}`} class="gap" role="presentation" aria-hidden="true" style={{ height: `${offsets[i]! - y}px` }} />);
    }
    children.push(row(i));
    y = offsets[i + 1]!;
  }
  return { children, paddingTop, paddingBottom: offsets[offsets.length - 1]! - y };
}
