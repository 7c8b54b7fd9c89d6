import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import type { ReplyCode } from '../../shared/status.js';
import type { FollowEvents } from './popup-live.js';
import { initialState, reduce, toProblem, type PopupState } from './popup-state.js';
import type { RelayClient } from './relay-client.js';
import type { Settings } from './settings.js';

/**
 * The popup's data: settings, the first load, live events, the refresh fallback and sending
 * replies. Everything outside the page (storage, the relay, live events, the background) comes
 * in through `PopupDeps`, so tests hand in fakes.
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
}

export type LiveStatus = 'connecting' | 'open' | 'down';

export interface PopupData {
  /** undefined while the settings are read; null when the extension is not configured. */
  settings: Settings | null | undefined;
  state: PopupState;
  live: LiveStatus;
  reload(): void;
  sendReply(id: string, code: ReplyCode): void;
  retryReply(id: string): void;
  /** Fetches one request (e.g. the one a notification points at) into the state; false when it cannot be had. */
  fetchRequest(id: string): Promise<boolean>;
}

/** Back-off between checks of a reply on its way when live events are not connected. */
const RECHECK_MS = [2_000, 4_000, 8_000, 15_000, 30_000];

export function usePopupData(deps: PopupDeps): PopupData {
  const depsRef = useRef(deps);
  depsRef.current = deps;
  const [settings, setSettings] = useState<Settings | null | undefined>(undefined);
  const [state, dispatch] = useReducer(reduce, initialState);
  const stateRef = useRef(state);
  stateRef.current = state;
  const [live, setLive] = useState<LiveStatus>('connecting');
  const inFlight = useRef(new Set<string>());
  const loadSeq = useRef(0);

  const client = useMemo(() => (settings ? depsRef.current.createClient(settings) : null), [settings]);
  const clientRef = useRef(client);
  clientRef.current = client;

  // Settings: read once, and again whenever the options page saves them.
  useEffect(() => {
    let alive = true;
    let last = '';
    const read = () =>
      depsRef.current.loadSettings().then(
        (s) => {
          if (!alive) return;
          const id = s ? `${s.relayUrl}\n${s.apiKey}` : '';
          if (id !== last || s === null) {
            last = id;
            setSettings(s);
          }
        },
        () => alive && setSettings(null),
      );
    void read();
    const unwatch = depsRef.current.watchSettings(() => void read());
    return () => {
      alive = false;
      unwatch();
    };
  }, []);

  const reload = useCallback(() => {
    const c = clientRef.current;
    if (c === null) return;
    const seq = ++loadSeq.current;
    dispatch({ type: 'load/start' });
    Promise.all([c.summary(), c.allRequests('pending'), c.allRequests('failed'), c.allRequests('connected')]).then(
      ([summary, pending, failed, connected]) => {
        if (seq === loadSeq.current) dispatch({ type: 'load/done', summary, groups: { pending, failed, connected } });
      },
      (error: unknown) => {
        if (seq === loadSeq.current) dispatch({ type: 'load/failed', problem: toProblem(error) });
      },
    );
  }, []);

  const hadClient = useRef(false);
  useEffect(() => {
    if (client === null) return;
    // Another relay or key: nothing of the old one's lists may linger.
    if (hadClient.current) dispatch({ type: 'reset' });
    hadClient.current = true;
    reload();
  }, [client, reload]);

  // Live events while the popup is open.
  useEffect(() => {
    if (client === null || !settings) return;
    const controller = new AbortController();
    let opened = false;
    setLive('connecting');
    const ended = () => {
      if (!controller.signal.aborted) setLive('down');
    };
    depsRef.current
      .followEvents(settings, {
        // No lastEventId: a new stream goes with a fresh read of the lists (below, on open);
        // resuming a dropped stream is followEvents' own business.
        signal: controller.signal,
        onEvent: (event) => dispatch({ type: 'event', event }),
        onOpen: () => {
          if (controller.signal.aborted) return;
          setLive('open');
          // The stream opened after our lists were read: what changed in between is read again,
          // quietly. (Events during the read are replayed over it; a reconnection resumes by
          // Last-Event-ID inside followEvents.)
          if (!opened && stateRef.current.phase === 'ready' && !stateRef.current.loading) reload();
          opened = true;
        },
        onProblem: () => ended(),
      })
      .then(ended, ended);
    return () => controller.abort();
  }, [client, settings, reload]);

  // Without live events: refresh on a timer.
  const ready = state.phase === 'ready';
  useEffect(() => {
    if (client === null || live === 'open' || !ready) return;
    const timer = setInterval(() => {
      if (!stateRef.current.loading) reload();
    }, depsRef.current.refreshMs);
    return () => clearInterval(timer);
  }, [client, live, ready, reload]);

  // Without live events: follow this popup's replies that are on their way until Concur answers.
  const waitingFor = useMemo(() => {
    const ids: string[] = [];
    for (const id of state.own) if (state.items.get(id)?.reply?.state === 'queued') ids.push(id);
    return ids.sort().join('\n');
  }, [state.own, state.items]);
  useEffect(() => {
    if (client === null || live === 'open' || waitingFor === '') return;
    const ids = waitingFor.split('\n');
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const check = async () => {
      for (const id of ids) {
        try {
          const request = await client.request(id);
          if (!stopped) dispatch({ type: 'request/fetched', request });
        } catch {
          // the timer refresh or the next check will catch up
        }
      }
      if (!stopped) schedule();
    };
    const schedule = () => {
      timer = setTimeout(() => void check(), RECHECK_MS[Math.min(attempt++, RECHECK_MS.length - 1)]);
    };
    schedule();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [client, live, waitingFor]);

  // Back online: try again at once.
  useEffect(() => {
    const online = () => {
      if (stateRef.current.problem?.problem === 'offline') reload();
    };
    addEventListener('online', online);
    return () => removeEventListener('online', online);
  }, [reload]);

  const send = useCallback((id: string, code: ReplyCode, idempotencyKey: string) => {
    const c = clientRef.current;
    if (c === null || inFlight.current.has(id)) return;
    inFlight.current.add(id);
    dispatch({ type: 'reply/sending', id, code, idempotencyKey });
    c.reply(id, code, idempotencyKey).then(
      (reply) => {
        inFlight.current.delete(id);
        dispatch({ type: 'reply/accepted', id, reply });
        try {
          depsRef.current.notifyBackground();
        } catch {
          // nobody listening
        }
      },
      (error: unknown) => {
        inFlight.current.delete(id);
        dispatch({ type: 'reply/failed', id, problem: toProblem(error) });
      },
    );
  }, []);

  const sendReply = useCallback(
    (id: string, code: ReplyCode) => {
      const s = stateRef.current;
      if (s.sends[id]?.phase === 'sending' || s.items.get(id)?.reply?.state === 'queued') return;
      send(id, code, depsRef.current.newKey());
    },
    [send],
  );

  const retryReply = useCallback(
    (id: string) => {
      const pending = stateRef.current.sends[id];
      if (pending === undefined || pending.phase !== 'failed') return;
      send(id, pending.code, pending.idempotencyKey);
    },
    [send],
  );

  const fetchRequest = useCallback(async (id: string) => {
    const c = clientRef.current;
    if (c === null) return false;
    try {
      dispatch({ type: 'request/fetched', request: await c.request(id) });
      return true;
    } catch {
      return false;
    }
  }, []);

  return { settings, state, live, reload, sendReply, retryReply, fetchRequest };
}
