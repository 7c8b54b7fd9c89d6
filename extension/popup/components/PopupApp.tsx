import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Group } from '../../../shared/status.js';
import { COLOURS, POPUP_TEXT, TEXT } from '../../lib/texts.js';
import { usePopupData, type PopupController, type PopupDeps } from '../controller.js';
import { realPopupDeps } from '../deps.js';
import { displayCounts, groupLists } from '../lists.js';
import { filterRequests } from '../search.js';
import { connectBlocked, mayReply } from '../view.js';
import type { PopupState } from '../state.js';
import { useFirstRenderMark, useNotificationTarget, usePageKeys } from './page-hooks.js';
import { RequestList, type ListApi } from './RequestList.js';
import { CONNECT_NOTE_ID } from './RequestRow.js';
import { Banner, ConcurBanner, ErrorState, Loading, RefreshBanner, Unconfigured } from './States.js';
import { Tabs } from './Tabs.js';
import { TopBar } from './TopBar.js';

interface PopupAppProps {
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

/**
 * Each tab's requests, and whether the relay asks a member directory (its summary says:
 * lib/attention.ts), which puts what waits for a person first in Pending. Before the summary is
 * in, no directory: nothing is taken off a person's list on a guess.
 */
function useGroupLists(items: PopupState['items'], summary: PopupState['summary']) {
  const directory = summary?.autoConnect.directory ?? false;
  const lists = useMemo(() => groupLists(items, directory), [items, directory]);
  return { lists, directory };
}

export function PopupApp({ deps: overrides, controller, initialHash }: PopupAppProps) {
  const deps = useMemo<PopupDeps>(() => ({ ...realPopupDeps, ...overrides }), []);
  const { settings, state, live, me, reload, sendReply, retryReply, fetchRequest } = usePopupData(() => deps, controller);
  const canReply = mayReply(me);
  const blocked = connectBlocked(state.summary);

  const [tab, setTab] = useState<Group>('pending');
  const [query, setQuery] = useState('');
  const [now, setNow] = useState(() => deps.now());
  const searchRef = useRef<HTMLInputElement>(null);
  const panelRef = useRef<HTMLDivElement>(null);
  const listApi = useRef<ListApi | null>(null);

  useEffect(() => {
    const timer = setInterval(() => setNow(deps.now()), TICK_MS);
    return () => clearInterval(timer);
  }, [deps]);

  const { lists, directory } = useGroupLists(state.items, state.summary);
  const counts = useMemo(() => displayCounts(state.summary, state.items), [state.summary, state.items]);
  const visible = useMemo(() => filterRequests(lists[tab], query), [lists, tab, query]);

  useFirstRenderMark(state.phase === 'ready' && state.loaded[tab]);

  // A notification opens this page with #request=<id> or #group=pending.
  const { focusRequest, clearFocusRequest, notice } = useNotificationTarget({
    initialHash,
    state,
    query,
    fetchRequest,
    showTab: setTab,
    clearQuery: () => setQuery(''),
  });
  usePageKeys(searchRef, listApi);

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
    const total = lists[tab].length;
    body = (
      <>
        {state.problem && <RefreshBanner problem={state.problem} onRetry={reload} onOpenOptions={deps.openOptions} />}
        <ConcurBanner concur={state.summary?.concur} />
        {!canReply && me && (
          // Said once here, not on every row: the rows simply offer no replies.
          <p class="note" data-note="cannot-reply">
            {POPUP_TEXT.cannotReply(me.name)}
          </p>
        )}
        {canReply && blocked !== null && (
          // Said once here; each disabled Connected button points at it (aria-describedby) and shows it as its tooltip.
          <p class="note note-warning" id={CONNECT_NOTE_ID} data-note="connect-unavailable">
            {blocked}
          </p>
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
        <Tabs tab={tab} counts={counts} onSelect={setTab} />
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
              directory={directory}
              sends={state.sends}
              canReply={canReply}
              connectBlocked={blocked}
              connections={state.connections}
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
          {canReply ? POPUP_TEXT.keyboardHelp : POPUP_TEXT.keyboardHelpView}
        </p>
      </>
    );
  }

  const status = state.announcement?.kind === 'status' ? state.announcement : null;
  const alert = state.announcement?.kind === 'error' ? state.announcement : null;

  return (
    <div class="popup" style={cssColours}>
      <TopBar
        configured={Boolean(settings)}
        live={live}
        ready={state.phase === 'ready'}
        loading={state.loading}
        onRefresh={reload}
        onOpenOptions={deps.openOptions}
      />
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
