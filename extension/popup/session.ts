import type { Me } from '../../shared/people.js';
import { GROUPS } from '../../shared/status.js';
import { lowerEventId, parseEventId, type RelayClient } from '../lib/relay-client.js';
import { sameMe, type Settings } from '../lib/settings.js';
import type { ControllerCore, LiveStatus } from './controller.js';
import { reduce, toProblem } from './state.js';

/**
 * The popup controller's connection to a relay: the settings it reads, and for each relay and key
 * a session with its client, its live stream and its loads.
 *
 * The first load and the live stream start together. Every answer says where it stands in the
 * relay's live events (its Relay-Event-Id), and a new stream starts at the relay's latest event
 * with a greeting summary of that id: a load that read at or past the greeting's id missed
 * nothing, and events that arrive while it is read are applied at once and replayed over the
 * finished snapshot (state.ts, newer wins). Only a load read before the stream's start
 * (something changed in between, or the relay does not say) is read once more, quietly, after the
 * greeting; reconnections resume by Last-Event-ID inside followEvents and need nothing.
 */

/** One relay and key: its client, its live stream and its loads. */
export interface Session {
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

interface Sessions {
  /** Reads the summary and every group again (the first load, a retry or a quiet refresh). */
  reload(): void;
  /** Starts the session again from scratch with the same settings (its stream, its loads). */
  restart(): void;
  /** Reads the settings, and starts a new session when the relay or the key changed. */
  readSettings(): void;
}

/** A session before anything is read: no greeting yet, nothing to check or catch up on. */
function newSession(settings: Settings, client: RelayClient): Session {
  return { settings, client, abort: new AbortController(), liveFrom: undefined, unchecked: undefined, catchUp: false };
}

/** Takes who the key belongs to (the relay's answer, or the one kept with the settings). */
function knowWhoseKey(core: ControllerCore, me: Me): void {
  if (sameMe(core.me, me)) return;
  core.me = me;
  core.emit();
}

/**
 * Asks the relay whose key it is, when the options page has not kept it (saved before it asked,
 * or while the relay was away); until then the popup offers replies as it always did. A refused
 * key is the loads' to report; a relay without `/me` answers null.
 */
function askWhoseKey(core: ControllerCore, s: Session): void {
  s.client.me().then(
    (me) => {
      if (core.session === s && me !== null) knowWhoseKey(core, me);
    },
    () => undefined,
  );
}

/**
 * Reads the settings (the latest read wins), and connects anew when the relay or the key changed
 * (or there are none).
 */
function settingsReader(core: ControllerCore, connect: (next: Settings | null) => void): () => void {
  let lastSettingsId: string | undefined;
  let settingsRead = 0;
  return () => {
    const seq = ++settingsRead;
    core.deps.loadSettings().then(
      (value) => {
        if (core.disposed || seq !== settingsRead) return;
        const id = value ? `${value.relayUrl}\n${value.apiKey}` : '';
        if (id === lastSettingsId && value !== null) {
          // Only "notifications" changed (the popup does not care), or the options page has kept
          // whose key it is (the role decides whether replies are offered).
          if (value.me !== undefined) knowWhoseKey(core, value.me);
          return;
        }
        lastSettingsId = id;
        connect(value);
      },
      () => {
        if (core.disposed || seq !== settingsRead) return;
        lastSettingsId = '';
        connect(null);
      },
    );
  };
}

export function createSessions(core: ControllerCore): Sessions {
  const { deps, dispatch, emit, settleFirstLoad } = core;
  let loadSeq = 0;
  let loadsInFlight = 0;

  // ---- loading ----

  /** Reads everything again once the loads in flight are over. */
  const readAgain = (s: Session): void => {
    if (loadsInFlight > 0) s.catchUp = true;
    else reload();
  };

  const reload = (): void => {
    const s = core.session;
    if (s === null || core.disposed) return;
    const beforeLive = s.liveFrom === undefined;
    const seq = ++loadSeq;
    const current = () => seq === loadSeq && core.session === s && !core.disposed;
    // The first load shows each part as it comes; a refresh replaces everything at once.
    const piecewise = core.state.phase !== 'ready';
    dispatch({ type: 'load/start' });
    loadsInFlight += 1;
    const summary = s.client.summarySnapshot();
    const groups = GROUPS.map((group) => s.client.groupSnapshot(group));
    // The connections are extra: the lists do not wait on them, nor fail with them (null: none to show).
    const connections = s.client.connectionsSnapshot().catch(() => ({ value: null, eventId: null }));
    if (piecewise) {
      summary.then(({ value }) => current() && dispatch({ type: 'load/summary', summary: value }), () => undefined);
      GROUPS.forEach((group, i) => groups[i]!.then(({ value }) => current() && dispatch({ type: 'load/group', group, items: value }), () => undefined));
    }
    const finished = (): void => {
      loadsInFlight -= 1;
      if (core.session !== s) return;
      settleFirstLoad();
      if (s.catchUp && loadsInFlight === 0) {
        s.catchUp = false;
        reload();
      }
    };
    Promise.all([summary, connections, ...groups]).then(
      ([value, listed, pending, failed, connected]) => {
        if (current()) {
          dispatch({
            type: 'load/done',
            summary: value.value,
            groups: { pending: pending!.value, failed: failed!.value, connected: connected!.value },
            connections: listed.value ?? undefined,
          });
          // A load that started after the greeting read past it: nothing to check.
          if (beforeLive && core.session === s) {
            // A relay without the connections route says nothing of where that list stands: it has none.
            const parts = listed.value === null ? [value, pending!, failed!, connected!] : [value, listed, pending!, failed!, connected!];
            const readAt = parts.map((part) => part.eventId).reduce(lowerEventId);
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
    const had = core.session !== null;
    core.session?.abort.abort();
    core.session = null;
    core.settings = next;
    // Another relay or key (or none): nothing of the old one's lists may linger.
    if (had) core.state = reduce(core.state, { type: 'reset' });
    core.live = 'connecting';
    core.me = next?.me ?? null;
    if (next === null) {
      emit();
      settleFirstLoad();
      return;
    }
    const s = newSession(next, deps.createClient(next));
    core.session = s;
    emit();

    const setLive = (value: LiveStatus): void => {
      if (core.session !== s || s.abort.signal.aborted || core.live === value) return;
      core.live = value;
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
          if (core.session !== s) return;
          dispatch({ type: 'event', event });
          if (s.liveFrom === undefined) greeted(event.id);
        },
        onOpen: () => setLive('open'),
        onProblem: (problem) => {
          // A key revoked while the popup is open: the relay closes the stream and refuses it
          // again. A load still in flight read with the key before that; it is not shown.
          if (problem.problem === 'key_refused' && core.session === s && !s.abort.signal.aborted) {
            loadSeq += 1;
            dispatch({ type: 'live/refused' });
          }
          ended();
        },
      })
      .then(ended, ended);
    // The lists are read at once, while the stream opens.
    reload();
    if (next.me === undefined) askWhoseKey(core, s);
  };

  const readSettings = settingsReader(core, connect);

  const restart = (): void => {
    if (core.settings) connect(core.settings);
  };

  return { reload, restart, readSettings };
}
