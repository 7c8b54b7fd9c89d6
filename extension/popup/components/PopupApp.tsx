import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { GROUPS, type Group } from '../../../shared/status.js';
import { usePopupData, type PopupController, type PopupDeps } from '../controller.js';
import { realPopupDeps } from '../deps.js';
import { filterRequests, matches, parseQuery } from '../search.js';
import { displayCounts, groupLists, groupOfRequest } from '../lists.js';
import { parseTarget, type PopupTarget } from '../view.js';
import { concurProblem } from '../../lib/problems.js';
import { COLOURS, POPUP_TEXT, PROBLEM_TEXTS, TEXT } from '../../lib/texts.js';
import { RequestList, type ListApi } from './RequestList.js';
import { Banner, ErrorState, Loading, RefreshBanner, Unconfigured } from './States.js';

export interface PopupAppProps {
  /** Replaces parts of the real world (tests). */
  deps?: Partial<PopupDeps>;
  /**
   * The popup's data, already started (entrypoints/popup/app.tsx creates it before the first
   * render, so that the relay is asked while Preact is still drawing); made from `deps` when absent.
   */
  controller?: PopupController;
  /** The page's hash at start; defaults to location.hash. */
  initialHash?: string;
}

/** How often ages and token times are recomputed. */
const TICK_MS = 15_000;

/** The product colours (lib/texts.ts) as CSS custom properties; entrypoints/popup/style.css reads them. */
const cssColours = `--brand:${COLOURS.brand};--error:${COLOURS.error};--warning:${COLOURS.warning};--neutral:${COLOURS.neutral}`;

const isEditable = (el: EventTarget | null) =>
  el instanceof HTMLElement && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));

export function PopupApp({ deps: overrides, controller, initialHash }: PopupAppProps) {
  const deps = useMemo<PopupDeps>(() => ({ ...realPopupDeps, ...overrides }), []);
  const { settings, state, live, reload, sendReply, retryReply, fetchRequest } = usePopupData(() => deps, controller);

  const [tab, setTab] = useState<Group>('pending');
  const [query, setQuery] = useState('');
  const [now, setNow] = useState(() => deps.now());
  const [target, setTarget] = useState<PopupTarget>(() => parseTarget(initialHash ?? location.hash));
  const [focusRequest, setFocusRequest] = useState<{ id: string; seq: number } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const panelRef = useRef<HTMLDivElement>(null);
  const tabRefs = useRef<Partial<Record<Group, HTMLButtonElement | null>>>({});
  const listApi = useRef<ListApi | null>(null);
  const fetchedFor = useRef<string | null>(null);
  const marked = useRef(false);

  useEffect(() => {
    const timer = setInterval(() => setNow(deps.now()), TICK_MS);
    return () => clearInterval(timer);
  }, [deps]);

  const lists = useMemo(() => groupLists(state.items), [state.items]);
  const counts = useMemo(() => displayCounts(state.summary, state.items), [state.summary, state.items]);
  const visible = useMemo(() => filterRequests(lists[tab], query), [lists, tab, query]);

  // The benchmark (test/bench/popup.ts) reads this: the first time the tab's whole list (or its
  // empty state) is on screen with the tab counts: after that commit and the next frame.
  const tabShown = state.phase === 'ready' && state.loaded[tab];
  useEffect(() => {
    if (!tabShown || marked.current) return;
    marked.current = true;
    if (typeof performance !== 'undefined' && typeof performance.mark === 'function') performance.mark('popup:first-render');
  }, [tabShown]);

  // A notification opens this page with #request=<id> or #group=pending.
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
      setTab(target.group);
      setTarget(null);
      return;
    }
    const id = target.request;
    const group = groupOfRequest(state, id);
    if (group !== undefined) {
      const item = state.items.get(id);
      if (item && !matches(item, parseQuery(query))) setQuery('');
      setTab(group);
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

  // `/` focuses the search from anywhere; j/k/arrows bring back a lost focus to the list.
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

  const clearFocusRequest = useCallback(() => setFocusRequest(null), []);

  const selectTab = (group: Group, focus: boolean) => {
    setTab(group);
    if (focus) tabRefs.current[group]?.focus();
  };

  const onTabKey = (e: KeyboardEvent) => {
    const index = GROUPS.indexOf(tab);
    const to =
      e.key === 'ArrowRight'
        ? GROUPS[(index + 1) % GROUPS.length]
        : e.key === 'ArrowLeft'
          ? GROUPS[(index + GROUPS.length - 1) % GROUPS.length]
          : e.key === 'Home'
            ? GROUPS[0]
            : e.key === 'End'
              ? GROUPS[GROUPS.length - 1]
              : undefined;
    if (to === undefined) return;
    e.preventDefault();
    selectTab(to, true);
  };

  const onSearchKey = (e: KeyboardEvent) => {
    if (e.key === 'ArrowDown' || e.key === 'Enter') {
      if (listApi.current?.focusActive()) e.preventDefault();
    } else if (e.key === 'Escape' && query !== '') {
      e.preventDefault();
      setQuery('');
    }
  };

  let body;
  if (settings === undefined) body = <Loading />;
  else if (settings === null) body = <Unconfigured onOpenOptions={deps.openOptions} />;
  else if (state.phase === 'loading') body = <Loading />;
  else if (state.phase === 'error' && state.problem) {
    body = <ErrorState problem={state.problem} onRetry={reload} onOpenOptions={deps.openOptions} />;
  } else {
    const concur = state.summary?.concur;
    const concurTrouble = concurProblem(concur?.state);
    const total = lists[tab].length;
    body = (
      <>
        {state.problem && <RefreshBanner problem={state.problem} onRetry={reload} onOpenOptions={deps.openOptions} />}
        {concurTrouble && (
          <Banner kind={concurTrouble === 'concur_unauthorized' ? 'error' : 'warning'} problem={concurTrouble}>
            <p>
              {PROBLEM_TEXTS[concurTrouble].message}
              {concur?.lastError ? <span class="detail"> ({concur.lastError})</span> : null}
            </p>
          </Banner>
        )}
        {notice && (
          <Banner kind="warning" problem="notice">
            <p>{notice}</p>
          </Banner>
        )}
        <div class="search">
          <input
            ref={searchRef}
            type="search"
            value={query}
            placeholder={TEXT.searchPlaceholder}
            aria-label={POPUP_TEXT.searchLabel}
            aria-controls={`panel-${tab}`}
            autoComplete="off"
            spellcheck={false}
            onInput={(e) => setQuery(e.currentTarget.value)}
            onKeyDown={onSearchKey}
          />
        </div>
        <div class="tabs" role="tablist" aria-label={POPUP_TEXT.tabsLabel} onKeyDown={onTabKey}>
          {GROUPS.map((group) => (
            <button
              key={group}
              ref={(el) => {
                tabRefs.current[group] = el;
              }}
              type="button"
              role="tab"
              id={`tab-${group}`}
              class={`tab tab-${group}`}
              aria-selected={group === tab ? 'true' : 'false'}
              aria-controls={`panel-${group}`}
              tabIndex={group === tab ? 0 : -1}
              onClick={() => selectTab(group, false)}
            >
              {TEXT.tabs[group]} <span class="count">{counts[group]}</span>
            </button>
          ))}
        </div>
        <div class="panel" ref={panelRef} role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
          {!state.loaded[tab] ? (
            // This group's list has not arrived yet (the others may have); a failed load says why above.
            state.loading && <Loading />
          ) : query.trim() !== '' && visible.length > 0 && <p class="matches">{POPUP_TEXT.matches(visible.length, total)}</p>}
          {!state.loaded[tab] ? null : visible.length === 0 ? (
            <p class="empty" data-empty={query.trim() !== '' ? 'search' : tab}>
              {query.trim() !== '' ? TEXT.noMatch(query.trim()) : TEXT.empty[tab]}
            </p>
          ) : (
            <RequestList
              key={tab}
              items={visible}
              group={tab}
              label={POPUP_TEXT.listLabel(TEXT.tabs[tab])}
              now={now}
              sends={state.sends}
              onReply={sendReply}
              onRetry={retryReply}
              focusRequest={focusRequest}
              onFocusRequestDone={clearFocusRequest}
              apiRef={listApi}
              scroller={panelRef}
            />
          )}
        </div>
        <p class="help" aria-hidden="true">
          {POPUP_TEXT.keyboardHelp}
        </p>
      </>
    );
  }

  const status = state.announcement?.kind === 'status' ? state.announcement : null;
  const alert = state.announcement?.kind === 'error' ? state.announcement : null;

  return (
    <div class="popup" style={cssColours}>
      <header class="top">
        <h1>{TEXT.productName}</h1>
        {settings && (
          <span
            class={`live live-${live}`}
            role="img"
            aria-label={live === 'open' ? POPUP_TEXT.liveOn : POPUP_TEXT.liveOff}
            title={live === 'open' ? POPUP_TEXT.liveOn : POPUP_TEXT.liveOff}
          />
        )}
        <span class="spacer" />
        {settings && state.phase === 'ready' && (
          <button type="button" class="btn btn-icon" data-action="refresh" aria-label={POPUP_TEXT.refresh} title={POPUP_TEXT.refresh} onClick={reload} aria-busy={state.loading ? 'true' : undefined}>
            ↻
          </button>
        )}
        <button type="button" class="btn btn-icon" aria-label={POPUP_TEXT.options} title={POPUP_TEXT.options} onClick={deps.openOptions}>
          ⚙
        </button>
      </header>
      <main class="body">{body}</main>
      <div class="sr-only" role="status" aria-live="polite" data-live="status">
        {status && <span key={status.seq}>{status.text}</span>}
      </div>
      <div class="sr-only" role="alert" aria-live="assertive" data-live="alert">
        {alert && <span key={alert.seq}>{alert.text}</span>}
      </div>
    </div>
  );
}
