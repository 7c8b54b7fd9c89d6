import type { Logger } from '../base/log.js';
import { toIso, type Keys } from '../store/index.js';

/**
 * How far before the last check each check reads again. Revocations are found by the time they
 * were written, by whichever process wrote them: the overlap covers a revocation that committed
 * while a check was running, or was stamped a moment earlier by another process's clock. Reading
 * one twice only ends streams that are already gone.
 */
const OVERLAP_MS = 5000;

export interface KeyStreamsDeps {
  keys: Pick<Keys, 'revokedSince' | 'onRevoked'>;
  /** Epoch ms; the clock the store stamps revocations with. */
  now: () => number;
  /** How often the revocations of other processes are read while a stream is open. */
  checkEveryMs: number;
  logger: Pick<Logger, 'warn'>;
}

export interface KeyStreams {
  /** Registers an open stream of `keyId`; `end` is called if the key is revoked. Returns the unregistering. */
  add(keyId: string, end: () => void): () => void;
}

/**
 * The open event streams by the API key they were opened with, so that a revoked key's streams
 * end: at once when this process revoked it (the store tells, after the commit: the key routes,
 * RELAY_API_KEYS), and within `checkEveryMs` when another process did on the same database (the
 * `keys revoke` command line), found by one indexed read of the keys revoked since the last check.
 * The check runs only while a stream is open; a new stream needs no check, its key was just
 * looked up.
 */
export function createKeyStreams(deps: KeyStreamsDeps): KeyStreams {
  const streams = new Map<string, Set<() => void>>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let lastCheck = 0;

  const endStreamsOf = (keyId: string): void => {
    const open = streams.get(keyId);
    if (open !== undefined) for (const end of [...open]) end();
  };
  deps.keys.onRevoked(endStreamsOf);

  /** Set while a check reads the store: a tick meanwhile is skipped, the next check covers it. */
  let checking = false;
  const check = async (): Promise<void> => {
    if (checking) return;
    checking = true;
    const startedAt = deps.now();
    try {
      for (const keyId of await deps.keys.revokedSince(toIso(lastCheck - OVERLAP_MS))) endStreamsOf(keyId);
      lastCheck = startedAt;
    } catch (err) {
      // A store that cannot be read now is tried again at the next tick, from the same point.
      deps.logger.warn({ err }, 'could not read which API keys were revoked; trying again');
    } finally {
      checking = false;
    }
  };

  return {
    add(keyId, end) {
      let open = streams.get(keyId);
      if (open === undefined) streams.set(keyId, (open = new Set()));
      open.add(end);
      if (timer === undefined) {
        lastCheck = deps.now();
        // check() catches every failure itself: nothing is left to reject.
        timer = setInterval(() => void check(), deps.checkEveryMs);
        timer.unref();
      }
      const own = open;
      return () => {
        own.delete(end);
        if (own.size === 0 && streams.get(keyId) === own) streams.delete(keyId);
        if (streams.size === 0 && timer !== undefined) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
  };
}
