import { groupOf } from '../../shared/status.js';
import type { MatchDue, MatchOutcome, Withheld } from './matches.js';
import { readStatus } from './mapping.js';
import { addMs, toIso } from './time.js';

/**
 * What the matches part does the same way on either database (matches.ts for SQLite,
 * postgres/matches.ts): a due row as what the worker asks with, what an answer writes, and when
 * the policy's reply is withheld. Nothing here touches a database.
 */

export interface DueRow {
  request_id: string;
  attempts: number;
  first_name: string | null;
  middle_name: string | null;
  last_name: string | null;
  loyalty_number: string | null;
  status: string;
  request_token_issued_at: string | null;
  /** 0/1 in SQLite, a boolean in PostgreSQL. */
  answered: number | boolean;
}

export const isPending = (status: string): boolean => {
  const code = readStatus(status);
  return code !== undefined && groupOf(code) === 'pending';
};

export function toMatchDue(row: DueRow, tokenLifetimeMs: number): MatchDue {
  return {
    requestId: row.request_id,
    firstName: row.first_name,
    middleName: row.middle_name,
    lastName: row.last_name,
    loyaltyNumber: row.loyalty_number,
    attempts: row.attempts,
    requestTokenExpiresAt: row.request_token_issued_at === null ? null : addMs(row.request_token_issued_at, tokenLifetimeMs),
    stale: row.answered ? 'answered' : isPending(row.status) ? null : 'not_pending',
  };
}

/** The values an answer writes on a match that had made `attempts` calls. */
export function answerValues(attempts: number, outcome: MatchOutcome) {
  const again = outcome.retryAt !== undefined;
  return {
    state: again ? 'due' : 'done',
    attempts: attempts + 1,
    next: outcome.retryAt === undefined ? null : toIso(outcome.retryAt),
    result: outcome.result,
    note: outcome.note,
    member: outcome.result === 'member' ? outcome.memberId : null,
  };
}

/**
 * Why the policy's reply may not be queued for a request as this transaction reads it (a person's
 * reply stored before wins, and none can slip in after); null: it may.
 */
export function withheldFor(request: { status: string; answered: number | boolean } | undefined): Withheld | null {
  if (request === undefined || !isPending(request.status)) return 'not_pending';
  return request.answered ? 'answered' : null;
}
