import { useLayoutEffect, useState } from 'preact/hooks';
import { GROUPS, type ReplyCode } from '../../shared/status.js';
import type { FollowEvents } from './live.js';
import { initialState, reduce, toProblem, type PopupAction, type PopupState } from './state.js';
import { lowerEventId, parseEventId, type RelayClient } from '../lib/relay-client.js';
import type { Settings } from '../lib/settings.js';

/**
 * The popup's data: settings, the first load, live events, the refresh fallback and sending
 * replies. Everything outside the page (storage, the relay, live events, the background) comes
 * in through `PopupDeps`, so tests hand in fakes.
 *
 * It is a plain object, not a hook, so that it can start before Preact renders anything: the
 * popup creates it while its module is evaluated, and the settings are read and the relay asked
 * while the first frame is still being drawn. `usePopupData` only subscribes a component to it.
 *
 * The first load and the live stream start together. Every answer says where it stands in the
 * relay's live events (its Relay-Event-Id), and a new stream starts at the relay's latest event
 * with a greeting summary of that id: a load that read at or past the greeting's id missed
 * nothing, and events that arrive while it is read are applied at once and replayed over the
 * finished snapshot (state.ts, newer wins). Only a load read before the stream's start
 * (something changed in between, or the relay does not say) is read once more, quietly, after the
 * greeting; reconnections resume by Last-Event-ID inside followEvents and need nothing.
 */

export interface PopupDeps {
  loadSettings(): Promise<Settings | null>;
  /** Calls back when the stored settings change; returns the unsubscribe. */
  watchSettings(onChange: () => void): () => void;
  createClient(settings: Settings): RelayClient;
  followEvents: FollowEvents;
  openOptions(): void;
  /** Tells the background to refresh the badge now (errors ignored). */
  notifyBackground(): void;
  now(): number;
  newKey(): string;
  /** Without live events, the list is refreshed this often. */
  refreshMs: number;
  /** Called once the first load is over, done or failed (the real popup drops its unused prefetches). */
  firstLoadSettled?(): void;
}

export type LiveStatus = 'connecting' | 'open' | 'down';

export interface PopupSnapshot {
  /** undefined while the settings are read; null when the extension is not configured. */
  settings: Settings | null | undefined;
  state: PopupState;
  live: LiveStatus;
}

export interface PopupActions {
  reload(): void;
  sendReply(id: string, code: ReplyCode): void;
  retryReply(id: string): void;
  /** Fetches one request (e.g. the one a notification points at) into the state; false when it cannot be had. */
  fetchRequest(id: string): Promise<boolean>;
}

export type PopupData = PopupSnapshot & PopupActions;

export interface PopupController extends PopupActions {
  snapshot(): PopupSnapshot;
  /** Calls back after every change; returns the unsubscribe. */
  subscribe(listener: () => void): () => void;
  /** Stops everything: streams, timers, listeners. */
  dispose(): void;
}

/** Back-off between checks of a reply on its way when live events are not connected. */
const RECHECK_MS = [2_000, 4_000, 8_000, 15_000, 30_000];

/** One relay and key: its client, its live stream and its loads. */
interface Session {
  settings: Settings;
  client: RelayClient;
  abort: AbortController;
  /** The id the live stream started from (its greeting's); undefined until the greeting is in. */
  liveFrom: number | undefined;
  /**
   * Where the last finished load stands (see readAt) while the greeting is not yet in; null: it
   * cannot say. undefined when there is nothing to check.
   */
  unchecked: number | null | undefined;
  /** A load is to follow the one in flight (the one that finished read before the stream's start). */
  catchUp: boolean;
}

/** A load read at `readAt` (null: unknown) misses events of a stream that started from `liveFrom`. */
const misses = (readAt: number | null, liveFrom: number): boolean => readAt === null || readAt < liveFrom;

export function createPopupController(deps: PopupDeps): PopupController {
  let settings: Settings | null | undefined;
  let state: PopupState = initialState;
  let live: LiveStatus = 'connecting';
  let snap: PopupSnapshot = { settings, state, live };
  const listeners = new Set<() => void>();
  let disposed = false;
  let session: Session | null = null;
  let loadSeq = 0;
  let loadsInFlight = 0;
  let firstLoadSettled = false;
  const inFlight = new Set<string>();
  const cleanups: (() => void)[] = [];

  const emit = (): void => {
    if (disposed) return;
    snap = { settings, state, live };
    for (const listener of [...listeners]) listener();
    syncTimers();
  };

  const dispatch = (action: PopupAction): void => {
    if (disposed) return;
    const next = reduce(state, action);
    if (next === state) return;
    state = next;
    emit();
  };

  const settleFirstLoad = (): void => {
    if (firstLoadSettled) return;
    firstLoadSettled = true;
    try {
      deps.firstLoadSettled?.();
    } catch {
      // not ours
    }
  };

  // ---- loading ----

  /** Reads everything again once the loads in flight are over. */
  const readAgain = (s: Session): void => {
    if (loadsInFlight > 0) s.catchUp = true;
    else reload();
  };

  const reload = (): void => {
    const s = session;
    if (s === null || disposed) return;
    const beforeLive = s.liveFrom === undefined;
    const seq = ++loadSeq;
    const current = () => seq === loadSeq && session === s && !disposed;
    // The first load shows each part as it comes; a refresh replaces everything at once.
    const piecewise = state.phase !== 'ready';
    dispatch({ type: 'load/start' });
    loadsInFlight += 1;
    const summary = s.client.summarySnapshot();
    const groups = GROUPS.map((group) => s.client.groupSnapshot(group));
    if (piecewise) {
      summary.then(({ value }) => current() && dispatch({ type: 'load/summary', summary: value }), () => undefined);
      GROUPS.forEach((group, i) => groups[i]!.then(({ value }) => current() && dispatch({ type: 'load/group', group, items: value }), () => undefined));
    }
    const finished = (): void => {
      loadsInFlight -= 1;
      if (session !== s) return;
      settleFirstLoad();
      if (s.catchUp && loadsInFlight === 0) {
        s.catchUp = false;
        reload();
      }
    };
    Promise.all([summary, ...groups]).then(
      ([value, pending, failed, connected]) => {
        if (current()) {
          dispatch({ type: 'load/done', summary: value.value, groups: { pending: pending!.value, failed: failed!.value, connected: connected!.value } });
          // A load that started after the greeting read past it: nothing to check.
          if (beforeLive && session === s) {
            const readAt = [value, pending!, failed!, connected!].map((part) => part.eventId).reduce(lowerEventId);
            if (s.liveFrom === undefined) s.unchecked = readAt;
            else if (misses(readAt, s.liveFrom)) readAgain(s);
          }
        }
        finished();
      },
      (error: unknown) => {
        if (current()) dispatch({ type: 'load/failed', problem: toProblem(error) });
        finished();
      },
    );
  };

  // ---- settings, client, live events ----

  const connect = (next: Settings | null): void => {
    const had = session !== null;
    session?.abort.abort();
    session = null;
    settings = next;
    // Another relay or key (or none): nothing of the old one's lists may linger.
    if (had) state = reduce(state, { type: 'reset' });
    live = 'connecting';
    if (next === null) {
      emit();
      settleFirstLoad();
      return;
    }
    const s: Session = {
      settings: next,
      client: deps.createClient(next),
      abort: new AbortController(),
      liveFrom: undefined,
      unchecked: undefined,
      catchUp: false,
    };
    session = s;
    emit();

    const setLive = (value: LiveStatus): void => {
      if (session !== s || s.abort.signal.aborted || live === value) return;
      live = value;
      emit();
    };
    const ended = (): void => setLive('down');
    /** The stream's first event is its greeting: a summary whose id is where the stream starts. */
    const greeted = (id: string): void => {
      // An id that is not one: any load read before it is read again.
      const from = parseEventId(id) ?? Number.MAX_SAFE_INTEGER;
      s.liveFrom = from;
      const readAt = s.unchecked;
      s.unchecked = undefined;
      if (readAt !== undefined && misses(readAt, from)) readAgain(s);
    };
    void deps
      .followEvents(next, {
        // No lastEventId: a new stream starts at the relay's latest event, with a summary;
        // resuming a dropped stream is followEvents' business.
        signal: s.abort.signal,
        onEvent: (event) => {
          if (session !== s) return;
          dispatch({ type: 'event', event });
          if (s.liveFrom === undefined) greeted(event.id);
        },
        onOpen: () => setLive('open'),
        onProblem: ended,
      })
      .then(ended, ended);
    // The lists are read at once, while the stream opens.
    reload();
  };

  let lastSettingsId: string | undefined;
  let settingsRead = 0;
  const readSettings = (): void => {
    const seq = ++settingsRead;
    deps.loadSettings().then(
      (value) => {
        if (disposed || seq !== settingsRead) return;
        const id = value ? `${value.relayUrl}\n${value.apiKey}` : '';
        if (id === lastSettingsId && value !== null) {
          // Only "notifications" changed: the popup does not care.
          return;
        }
        lastSettingsId = id;
        connect(value);
      },
      () => {
        if (disposed || seq !== settingsRead) return;
        lastSettingsId = '';
        connect(null);
      },
    );
  };

  // ---- without live events: timers ----

  let refreshTimer: ReturnType<typeof setInterval> | undefined;
  let recheck: { key: string; timer: ReturnType<typeof setTimeout> | undefined; stop(): void } | undefined;

  const waitingFor = (): string => {
    const ids: string[] = [];
    for (const id of state.own) if (state.items.get(id)?.reply?.state === 'queued') ids.push(id);
    return ids.sort().join('\n');
  };

  function syncTimers(): void {
    const s = session;
    const fallback = !disposed && s !== null && live !== 'open';
    // Refresh on a timer.
    const wantRefresh = fallback && state.phase === 'ready';
    if (wantRefresh && refreshTimer === undefined) {
      refreshTimer = setInterval(() => {
        if (!state.loading) reload();
      }, deps.refreshMs);
    } else if (!wantRefresh && refreshTimer !== undefined) {
      clearInterval(refreshTimer);
      refreshTimer = undefined;
    }
    // Follow this popup's replies that are on their way until Concur answers.
    const key = fallback ? waitingFor() : '';
    if (recheck !== undefined && recheck.key === key) return;
    recheck?.stop();
    recheck = undefined;
    if (key === '' || s === null) return;
    const ids = key.split('\n');
    let attempt = 0;
    let stopped = false;
    const entry = {
      key,
      timer: undefined as ReturnType<typeof setTimeout> | undefined,
      stop() {
        stopped = true;
        clearTimeout(entry.timer);
      },
    };
    const check = async (): Promise<void> => {
      for (const id of ids) {
        try {
          const request = await s.client.request(id);
          if (!stopped && session === s) dispatch({ type: 'request/fetched', request });
        } catch {
          // the timer refresh or the next check will catch up
        }
      }
      if (!stopped) schedule();
    };
    const schedule = (): void => {
      entry.timer = setTimeout(() => void check(), RECHECK_MS[Math.min(attempt++, RECHECK_MS.length - 1)]);
    };
    recheck = entry;
    schedule();
  }

  // ---- replies ----

  const send = (id: string, code: ReplyCode, idempotencyKey: string): void => {
    const s = session;
    if (s === null || inFlight.has(id)) return;
    inFlight.add(id);
    dispatch({ type: 'reply/sending', id, code, idempotencyKey });
    s.client.reply(id, code, idempotencyKey).then(
      (reply) => {
        inFlight.delete(id);
        if (session !== s) return;
        dispatch({ type: 'reply/accepted', id, reply });
        try {
          deps.notifyBackground();
        } catch {
          // nobody listening
        }
      },
      (error: unknown) => {
        inFlight.delete(id);
        if (session === s) dispatch({ type: 'reply/failed', id, problem: toProblem(error) });
      },
    );
  };

  const controller: PopupController = {
    snapshot: () => snap,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reload,
    sendReply(id, code) {
      if (state.sends[id]?.phase === 'sending' || state.items.get(id)?.reply?.state === 'queued') return;
      send(id, code, deps.newKey());
    },
    retryReply(id) {
      const pending = state.sends[id];
      if (pending === undefined || pending.phase !== 'failed') return;
      send(id, pending.code, pending.idempotencyKey);
    },
    async fetchRequest(id) {
      const s = session;
      if (s === null) return false;
      try {
        const request = await s.client.request(id);
        if (session === s) dispatch({ type: 'request/fetched', request });
        return true;
      } catch {
        return false;
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      session?.abort.abort();
      session = null;
      listeners.clear();
      clearInterval(refreshTimer);
      recheck?.stop();
      for (const cleanup of cleanups.splice(0)) cleanup();
      settleFirstLoad();
    },
  };

  // Start at once: settings, then (connect) the live stream and the lists.
  readSettings();
  cleanups.push(deps.watchSettings(() => readSettings()));
  // Back online: try again at once.
  if (typeof addEventListener === 'function') {
    const online = (): void => {
      if (state.problem?.problem === 'offline') reload();
    };
    addEventListener('online', online);
    cleanups.push(() => removeEventListener('online', online));
  }
  return controller;
}

/**
 * Subscribes the component to a controller: the one given (created before the first render), or
 * one of its own made from `deps` on the first render. It is disposed with the component.
 */
export function usePopupData(deps: () => PopupDeps, given?: PopupController): PopupData {
  const [controller] = useState(() => given ?? createPopupController(deps()));
  const [snap, setSnap] = useState(() => controller.snapshot());
  useLayoutEffect(() => {
    const update = () => setSnap(controller.snapshot());
    const unsubscribe = controller.subscribe(update);
    update(); // anything that changed between the render and now
    return () => {
      unsubscribe();
      controller.dispose();
    };
  }, [controller]);
  return {
    ...snap,
    reload: controller.reload,
    sendReply: controller.sendReply,
    retryReply: controller.retryReply,
    fetchRequest: controller.fetchRequest,
  };
}
