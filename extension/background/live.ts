import { followEvents, type FollowTiming, type LiveEvent } from '../lib/sse-client.js';
import type { RelayProblem } from '../lib/problems.js';
import type { Settings } from '../lib/settings.js';

/**
 * The background's live-events connection: at most one at a time, replaced whenever the settings
 * change, stopped when there are no settings. Whether an MV3 service worker stays alive while the
 * stream is open is not guaranteed, so the periodic alarm remains the floor; every wake starts
 * the stream again.
 */
interface LiveEvents {
  /** Stops the current stream and, given settings, starts a new one. */
  restart(settings: Settings | null): void;
  stop(): void;
  readonly active: boolean;
}

export function createLiveEvents(handlers: {
  onEvent(event: LiveEvent): void;
  onProblem?(problem: RelayProblem): void;
  timing?: Partial<FollowTiming>;
}): LiveEvents {
  let controller: AbortController | undefined;
  const stop = (): void => {
    controller?.abort();
    controller = undefined;
  };
  return {
    restart(settings) {
      stop();
      if (settings === null) return;
      const own = new AbortController();
      controller = own;
      void followEvents(settings, {
        signal: own.signal,
        onEvent: handlers.onEvent,
        onProblem: handlers.onProblem,
        timing: handlers.timing,
      }).finally(() => {
        if (controller === own) controller = undefined;
      });
    },
    stop,
    get active() {
      return controller !== undefined;
    },
  };
}

/** Calls `run` once, `ms` after the last of a burst of `schedule()` calls. */
export function debounce(run: () => void, ms: number): { schedule(): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    schedule() {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timer = undefined;
        run();
      }, ms);
    },
    cancel() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
