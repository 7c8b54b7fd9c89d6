import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { Group } from '../../../shared/status.js';
import { POPUP_TEXT } from '../../lib/texts.js';
import { groupOfRequest } from '../lists.js';
import { matches, parseQuery } from '../search.js';
import type { PopupState } from '../state.js';
import { parseTarget, type PopupTarget } from '../view.js';
import type { ListApi } from './RequestList.js';

/** What the popup page (PopupApp) follows besides its data: where it was sent, its keys, its first render. */

const isEditable = (el: EventTarget | null) =>
  el instanceof HTMLElement && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));

interface FocusRequest {
  id: string;
  seq: number;
}

interface TargetOptions {
  /** The page's hash at start; location.hash when absent. */
  initialHash: string | undefined;
  state: PopupState;
  query: string;
  fetchRequest(id: string): Promise<boolean>;
  showTab(group: Group): void;
  clearQuery(): void;
}

/**
 * A notification opens the popup's page with `#request=<id>` or `#group=pending`: once the data
 * is ready, the page shows that tab, or the request's tab with the request focused (it is fetched
 * alone when no list has it). `focusRequest` is for the list to carry out; `notice` says when the
 * relay does not know the request.
 */
export function useNotificationTarget({ initialHash, state, query, fetchRequest, showTab, clearQuery }: TargetOptions) {
  const [target, setTarget] = useState<PopupTarget>(() => parseTarget(initialHash ?? location.hash));
  const [focusRequest, setFocusRequest] = useState<FocusRequest | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const fetchedFor = useRef<string | null>(null);

  useEffect(() => {
    const onHash = () => {
      fetchedFor.current = null;
      setTarget(parseTarget(location.hash));
    };
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  useEffect(() => {
    if (target === null || state.phase !== 'ready') return;
    if ('group' in target) {
      showTab(target.group);
      setTarget(null);
      return;
    }
    const id = target.request;
    const group = groupOfRequest(state, id);
    if (group !== undefined) {
      const item = state.items.get(id);
      if (item && !matches(item, parseQuery(query))) clearQuery();
      showTab(group);
      setFocusRequest((prev) => ({ id, seq: (prev?.seq ?? 0) + 1 }));
      setTarget(null);
      return;
    }
    // Not among what is loaded: if some group is still on its way, it may be there.
    if (state.loading && !Object.values(state.loaded).every(Boolean)) return;
    if (fetchedFor.current === id) return;
    fetchedFor.current = id;
    void fetchRequest(id).then((found) => {
      if (!found) {
        setNotice(POPUP_TEXT.requestNotFound);
        setTarget(null);
      }
    });
  }, [target, state, query, fetchRequest]);

  const clearFocusRequest = useCallback(() => setFocusRequest(null), []);
  return { focusRequest, clearFocusRequest, notice };
}

/** `/` focuses the search from anywhere; j/k/arrows bring back a lost focus to the list. */
export function usePageKeys(searchRef: { current: HTMLInputElement | null }, listApi: { current: ListApi | null }): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
      if (isEditable(e.target)) return;
      if (e.key === '/') {
        e.preventDefault();
        searchRef.current?.focus();
        searchRef.current?.select();
        return;
      }
      const lost = e.target === document.body || e.target === document.documentElement || e.target === document;
      if (lost && ['j', 'k', 'ArrowDown', 'ArrowUp'].includes(e.key) && listApi.current?.focusActive()) e.preventDefault();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
}

/**
 * Marks `popup:first-render` the first time `shown` is true: the tab's whole list (or its empty
 * state) is on screen with the tab counts, after that commit and the next frame. The benchmark
 * (test/bench/popup.ts) reads the mark.
 */
export function useFirstRenderMark(shown: boolean): void {
  const marked = useRef(false);
  useEffect(() => {
    if (!shown || marked.current) return;
    marked.current = true;
    if (typeof performance !== 'undefined' && typeof performance.mark === 'function') performance.mark('popup:first-render');
  }, [shown]);
}
