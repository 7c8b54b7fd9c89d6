import type { ConcurState } from '../../shared/models.js';

/**
 * The closed set of things that can stand between the user and their requests. Every one has a
 * badge mark, a colour, a tooltip and a sentence in texts.ts; nothing else is ever shown.
 */
export const PROBLEMS = [
  'not_configured',
  'offline',
  'unreachable',
  'key_refused',
  'forbidden',
  'concur_unauthorized',
  'concur_degraded',
  /** A CRSUC refused (422 `exchange_unavailable`): the relay cannot exchange request tokens now. */
  'exchange_unavailable',
  'relay_error',
] as const;
export type Problem = (typeof PROBLEMS)[number];

export class RelayProblem extends Error {
  override readonly name = 'RelayProblem';
  constructor(
    readonly problem: Problem,
    /** Detail for the popup (never a key or token): e.g. the relay's own error message. */
    readonly detail?: string,
  ) {
    super(detail ? `${problem}: ${detail}` : problem);
  }
}

/** The problem a relay's Concur state stands for (ok and unknown are not problems). */
export function concurProblem(state: ConcurState | undefined): Problem | undefined {
  if (state === 'unauthorized') return 'concur_unauthorized';
  if (state === 'degraded') return 'concur_degraded';
  return undefined;
}
