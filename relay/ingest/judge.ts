import { ConcurError, type ConcurErrorKind } from '../concur/errors.js';
import type { ConcurStatus } from '../store/index.js';
import { iso } from '../workers/loop.js';
import { VaultFencedError } from '../vault/vault.js';

/**
 * What a failed sweep means: the kind it is counted as, the state and the words the summary
 * shows (in words an operator can act on, no internals), and whether the poller backs off.
 */

/** 'internal' = anything that is not a ConcurError (a bug, a database error). */
export type SweepErrorKind = ConcurErrorKind | 'internal';

export const INTERNAL_ERROR_MESSAGE = "The relay could not complete a poll of Concur because of an internal error; see the relay's log.";
/** A poll that brought a request token this relay may not seal (boot/vault-watch.ts). */
export const VAULT_FENCED_MESSAGE =
  "The relay's vault key was rotated out, so it stores no new request tokens: restart it with the new RELAY_VAULT_KEY (its log and /healthz name the key).";

interface Judgement {
  kind: SweepErrorKind;
  state: Extract<ConcurStatus['state'], 'degraded' | 'unauthorized'>;
  /** For the summary's lastError: what happened, in words an operator can act on; no internals. */
  message: string;
  backOff: boolean;
  retryAfterSeconds?: number;
}

export function judge(error: unknown): Judgement {
  if (error instanceof VaultFencedError) return { kind: 'internal', state: 'degraded', message: VAULT_FENCED_MESSAGE, backOff: false };
  if (!(error instanceof ConcurError)) {
    return { kind: 'internal', state: 'degraded', message: INTERNAL_ERROR_MESSAGE, backOff: false };
  }
  const said = error.message;
  switch (error.kind) {
    case 'unauthorized':
      return { kind: error.kind, state: 'unauthorized', message: said, backOff: false };
    case 'rate_limited':
      return {
        kind: error.kind,
        state: 'degraded',
        message: lead('Concur is rate limiting the relay', said),
        backOff: true,
        retryAfterSeconds: error.retryAfterSeconds,
      };
    case 'unavailable':
      return {
        kind: error.kind,
        state: 'degraded',
        message: lead('Concur is unavailable', said),
        backOff: true,
        retryAfterSeconds: error.retryAfterSeconds,
      };
    case 'timeout':
      return { kind: error.kind, state: 'degraded', message: lead('Concur is not answering in time', said), backOff: true };
    case 'bad_response':
      return { kind: error.kind, state: 'degraded', message: `Concur's answer could not be read: ${said}`, backOff: false };
    case 'not_found':
      return {
        kind: error.kind,
        state: 'degraded',
        message: `Concur answered 404 for the Connection Requests list; check CONCUR_BASE_URL${error.concurMessage ? ` (Concur said: ${error.concurMessage})` : ''}`,
        backOff: false,
      };
    case 'concur_error':
      return { kind: error.kind, state: 'degraded', message: said, backOff: false };
  }
}

/** The summary's lastError after a failed sweep: when the poller backs off, with the next try. */
export function lastErrorOf(judged: Judgement, finishedMs: number, nextDelayMs: number): string {
  if (!judged.backOff) return judged.message;
  return `${withoutStop(judged.message)}; next try at ${iso(finishedMs + nextDelayMs)} (in ${seconds(nextDelayMs)})`;
}

/** Starts the message with what it means, unless the client's message already does. */
function lead(meaning: string, said: string): string {
  return said.startsWith('Concur is') ? said : `${meaning}: ${said}`;
}

/** "…later." + "; next try at …" reads better without the full stop. */
function withoutStop(message: string): string {
  return message.replace(/\.+$/, '');
}

function seconds(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}
