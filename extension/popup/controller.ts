import { useLayoutEffect, useState } from 'preact/hooks';
import type { Me } from '../../shared/people.js';
import type { ReplyCode } from '../../shared/status.js';
import type { RelayClient } from '../lib/relay-client.js';
import type { Settings } from '../lib/settings.js';
import { createFallback } from './fallback.js';
import type { FollowEvents } from './live.js';
import { createSessions, type Session } from './session.js';
import { initialState, reduce, toProblem, type PopupAction, type PopupState } from './state.js';
import { replyInFlight } from './view.js';

/**
 * The popup's data: settings, the first load, live events, the refresh fallback and sending
 * replies. Everything outside the page (storage, the relay, live events, the background) comes
 * in through `PopupDeps`, so tests hand in fakes.
 *
 * It is a plain object, not a hook, so that it can start before Preact renders anything: the
 * popup creates it while its module is evaluated, and the settings are read and the relay asked
 * while the first frame is still being drawn. `usePopupData` only subscribes a component to it.
 *
 * This file holds its state and its replies; session.ts connects it to the relay (settings,
 * loads, the live stream), fallback.ts keeps it current while the stream is down.
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

interface PopupSnapshot {
  /** undefined while the settings are read; null when the extension is not configured. */
  settings: Settings | null | undefined;
  state: PopupState;
  live: LiveStatus;
  /** Who the key belongs to and its role (kept with the settings, or asked); null while not known. */
  me: Me | null;
}

interface PopupActions {
  reload(): void;
  sendReply(id: string, code: ReplyCode): void;
  retryReply(id: string): void;
  /** Fetches one request (e.g. the one a notification points at) into the state; false when it cannot be had. */
  fetchRequest(id: string): Promise<boolean>;
}

type PopupData = PopupSnapshot & PopupActions;

export interface PopupController extends PopupActions {
  snapshot(): PopupSnapshot;
  /** Calls back after every change; returns the unsubscribe. */
  subscribe(listener: () => void): () => void;
  /** Stops everything: streams, timers, listeners. */
  dispose(): void;
}

/**
 * What the controller's parts (session.ts, fallback.ts) share: its state, and the only ways to
 * change what its listeners see.
 */
export interface ControllerCore {
  readonly deps: PopupDeps;
  settings: Settings | null | undefined;
  state: PopupState;
  live: LiveStatus;
  me: Me | null;
  session: Session | null;
  disposed: boolean;
  /** Applies an action; the listeners hear of it when it changed the state. */
  dispatch(action: PopupAction): void;
  /** Tells the listeners (and the fallback timers) that something changed. */
  emit(): void;
  /** The first load is over, done or failed: says so to `deps.firstLoadSettled`, once. */
  settleFirstLoad(): void;
}

export function createPopupController(deps: PopupDeps): PopupController {
  const listeners = new Set<() => void>();
  const inFlight = new Set<string>();
  const cleanups: (() => void)[] = [];
  let firstLoadSettled = false;
  const core: ControllerCore = {
    deps,
    settings: undefined,
    state: initialState,
    live: 'connecting',
    me: null,
    session: null,
    disposed: false,
    dispatch(action) {
      if (core.disposed) return;
      const next = reduce(core.state, action);
      if (next === core.state) return;
      const refused = next.problem?.problem === 'key_refused' && core.state.problem?.problem !== 'key_refused';
      if (refused) {
        // Nothing more comes with this key: its stream stops ("Try again" starts afresh).
        core.session?.abort.abort();
        core.live = 'down';
      }
      core.state = next;
      core.emit();
      // The background's badge says so at once too, rather than at its next refresh.
      if (refused) tellBackground();
    },
    emit() {
      if (core.disposed) return;
      snap = { settings: core.settings, state: core.state, live: core.live, me: core.me };
      for (const listener of [...listeners]) listener();
      fallback.sync();
    },
    settleFirstLoad() {
      if (firstLoadSettled) return;
      firstLoadSettled = true;
      try {
        deps.firstLoadSettled?.();
      } catch {
        // not ours
      }
    },
  };
  function tellBackground(): void {
    try {
      deps.notifyBackground();
    } catch {
      // nobody listening
    }
  }
  let snap: PopupSnapshot = { settings: core.settings, state: core.state, live: core.live, me: core.me };
  const { dispatch } = core;
  const { reload, restart, readSettings } = createSessions(core);
  const fallback = createFallback(core, reload);

  // ---- replies ----

  const send = (id: string, code: ReplyCode, idempotencyKey: string): void => {
    const s = core.session;
    if (s === null || inFlight.has(id)) return;
    inFlight.add(id);
    dispatch({ type: 'reply/sending', id, code, idempotencyKey });
    s.client.reply(id, code, idempotencyKey).then(
      (reply) => {
        inFlight.delete(id);
        if (core.session !== s) return;
        dispatch({ type: 'reply/accepted', id, reply });
        tellBackground();
      },
      (error: unknown) => {
        inFlight.delete(id);
        if (core.session === s) dispatch({ type: 'reply/failed', id, problem: toProblem(error) });
      },
    );
  };

  const controller: PopupController = {
    snapshot: () => snap,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    // After a refused key, its stream was stopped: trying again starts the session afresh.
    reload: () => (core.state.problem?.problem === 'key_refused' ? restart() : reload()),
    sendReply(id, code) {
      if (core.state.sends[id]?.phase === 'sending' || replyInFlight(core.state.items.get(id)?.reply)) return;
      send(id, code, deps.newKey());
    },
    retryReply(id) {
      const pending = core.state.sends[id];
      if (pending === undefined || pending.phase !== 'failed') return;
      send(id, pending.code, pending.idempotencyKey);
    },
    async fetchRequest(id) {
      const s = core.session;
      if (s === null) return false;
      try {
        const request = await s.client.request(id);
        if (core.session === s) dispatch({ type: 'request/fetched', request });
        return true;
      } catch {
        return false;
      }
    },
    dispose() {
      if (core.disposed) return;
      core.disposed = true;
      core.session?.abort.abort();
      core.session = null;
      listeners.clear();
      fallback.stop();
      for (const cleanup of cleanups.splice(0)) cleanup();
      core.settleFirstLoad();
    },
  };

  // Start at once: settings, then (connect) the live stream and the lists.
  readSettings();
  cleanups.push(deps.watchSettings(() => readSettings()));
  // Back online: try again at once.
  if (typeof addEventListener === 'function') {
    const online = (): void => {
      if (core.state.problem?.problem === 'offline') reload();
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
