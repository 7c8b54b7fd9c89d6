import type { ControllerCore } from './controller.js';
import { replyInFlight } from './view.js';

/**
 * What the popup controller does while live events are not connected: the list is refreshed on a
 * timer, and this popup's replies that are on their way to Concur are checked, backing off, until
 * Concur answers. With the stream open, the relay's events bring both, and nothing runs here.
 */

/** Back-off between checks of a reply on its way when live events are not connected. */
const RECHECK_MS = [2_000, 4_000, 8_000, 15_000, 30_000];

interface Fallback {
  /** Starts or stops the timers to match the controller's state; called after every change. */
  sync(): void;
  stop(): void;
}

export function createFallback(core: ControllerCore, reload: () => void): Fallback {
  const { deps, dispatch } = core;
  let refreshTimer: ReturnType<typeof setInterval> | undefined;
  let recheck: { key: string; timer: ReturnType<typeof setTimeout> | undefined; stop(): void } | undefined;

  const waitingFor = (): string => {
    const ids: string[] = [];
    for (const id of core.state.own) if (replyInFlight(core.state.items.get(id)?.reply)) ids.push(id);
    return ids.sort().join('\n');
  };

  function sync(): void {
    const s = core.session;
    // A refused key gets nothing from the relay: only new settings help (a new session).
    const fallback = !core.disposed && s !== null && core.live !== 'open' && core.state.problem?.problem !== 'key_refused';
    // Refresh on a timer.
    const wantRefresh = fallback && core.state.phase === 'ready';
    if (wantRefresh && refreshTimer === undefined) {
      refreshTimer = setInterval(() => {
        if (!core.state.loading) reload();
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
          if (!stopped && core.session === s) dispatch({ type: 'request/fetched', request });
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

  return {
    sync,
    stop() {
      clearInterval(refreshTimer);
      recheck?.stop();
    },
  };
}
