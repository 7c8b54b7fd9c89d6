import type { ReplyState } from '../../shared/models.js';
import { REPLY_COLUMNS } from './mapping.js';
import { claimableSql, releaseClaimSql } from './reply-claims.js';

/**
 * The outbox's statements, written once for both databases (replies.ts and reply-exchange.ts
 * prepare them on SQLite; postgres/ binds them with `named`): SQLite's `@name` parameters, and
 * only SQL both speak. Where the two must differ (claiming what is due) each module has its own.
 */

/** The states of a reply on its way (at most one per request). */
export const ON_ITS_WAY = "'queued', 'exchanging', 'waiting_token'";
/** A waiting reply goes on once a poll brought a request token issued at another time than the one its exchange tried. */
const NEW_TOKEN_CAME = `state = 'waiting_token' AND EXISTS (SELECT 1 FROM requests q WHERE q.id = replies.request_id
  AND q.request_token_issued_at IS NOT NULL AND q.request_token_issued_at IS DISTINCT FROM replies.token_issued_at)`;
const CLAIMABLE = claimableSql('@me', '@now');
const CLEAR_DOUBT = 'attempt_started_at = NULL, attempt_token_sha256 = NULL, attempt_last_modified = NULL';
const RELEASE = releaseClaimSql('@me');

/** What `due` hands out at @now to relay @me: queued and exchanging replies whose time has come, waiting ones with a new token; none another relay holds. */
export const DUE_WHERE = `((state IN ('queued', 'exchanging') AND next_attempt_at <= @now) OR (${NEW_TOKEN_CAME})) AND ${CLAIMABLE}`;

export type AttemptParams = { id: number; attempts: number; next: string; error: string | null; now: string; me: string };

export const REPLY_SQL = {
  selectRequest: 'SELECT retries, user_errors FROM requests WHERE id = @id',
  selectOnItsWay: `SELECT id FROM replies WHERE request_id = @id AND state IN (${ON_ITS_WAY})`,
  insert: `
    INSERT INTO replies (request_id, status, requested_status, state, attempts, last_error, next_attempt_at, created_at, updated_at, requested_by)
    VALUES (@request_id, @status, @status, 'queued', 0, NULL, @now, @now, @now, @by)`,
  // A waiting reply whose new token has come is due now; a reply another relay holds, when its lease ends.
  selectNextDue: `
    SELECT MIN(CASE WHEN claimed_by IS DISTINCT FROM @me AND lease_until > due_at THEN lease_until ELSE due_at END) AS at
    FROM (SELECT CASE WHEN state = 'waiting_token' THEN @now ELSE next_attempt_at END AS due_at, claimed_by, lease_until
          FROM replies WHERE state IN ('queued', 'exchanging') OR (${NEW_TOKEN_CAME})) AS d`,
  // The token's hash, kept beside the sealed token: the evidence never needs the token opened.
  selectEvidence: 'SELECT request_token_sha256, concur_last_modified FROM requests WHERE id = @id',
  // Refused (no row changed) while another relay holds the reply.
  updateStarted: `
    UPDATE replies SET attempt_started_at = @now, attempt_token_sha256 = @token, attempt_last_modified = @lm,
           claimed_by = @me, lease_until = @until
    WHERE id = @id AND state = 'queued' AND ${CLAIMABLE}`,
  updateAttempt: `
    UPDATE replies SET attempts = @attempts, next_attempt_at = @next, last_error = @error, updated_at = @now,
           ${CLEAR_DOUBT}, ${RELEASE}
    WHERE id = @id AND state = 'queued'`,
  updateAttemptInDoubt: `
    UPDATE replies SET attempts = @attempts, next_attempt_at = @next, last_error = @error, updated_at = @now, ${RELEASE}
    WHERE id = @id AND state = 'queued'`,
  // A reply sent in place of what was asked for (a CRRET on a CRSUC's way, a CRPA1 when no retries
  // were left) keeps the lastError that says why.
  updateDone: `
    UPDATE replies SET state = @state, attempts = attempts + 1, next_attempt_at = NULL,
           last_error = CASE WHEN @state = 'failed' THEN @error WHEN status IS DISTINCT FROM requested_status THEN last_error ELSE NULL END,
           updated_at = @now, ${CLEAR_DOUBT}, ${RELEASE}
    WHERE id = @id AND state = 'queued'`,
  updateRequestAfterSent: `
    UPDATE requests SET status = @status, retries = retries + @retry, user_errors = user_errors + @user_error,
           last_modified = @now, updated_at = @now
    WHERE id = @id`,
  selectCounts: 'SELECT state, COUNT(*) AS n FROM replies GROUP BY state',
  selectPending: `SELECT COUNT(*) AS n FROM replies WHERE state IN (${ON_ITS_WAY})`,
  selectOne: `SELECT ${REPLY_COLUMNS} FROM replies WHERE id = @id`,
} as const;

export type DoneParams = { id: number; state: ReplyState; error: string | null; now: string; me: string };

/** The exchange's steps (reply-exchange.ts). */
export const EXCHANGE_SQL = {
  facts: 'SELECT user_id, request_token_issued_at, retries FROM requests WHERE id = @id',
  // Refused (no row changed) while another relay holds the reply.
  exchanging: `
    UPDATE replies SET state = 'exchanging', status = 'CRSUC', token_issued_at = @issued, exchanged_at = NULL,
           last_error = NULL, next_attempt_at = @now, updated_at = @now, claimed_by = @me, lease_until = @until
    WHERE id = @id AND ${CLAIMABLE}`,
  exchanged: `
    UPDATE replies SET state = 'queued', exchanged_at = @now, exchange_attempts = 0, last_error = NULL,
           next_attempt_at = @now, updated_at = @now
    WHERE id = @id`,
  retry: `
    UPDATE replies SET state = 'queued', exchange_attempts = exchange_attempts + 1, next_attempt_at = @next,
           last_error = @error, updated_at = @now, ${RELEASE}
    WHERE id = @id`,
  newToken: `
    UPDATE replies SET state = 'queued', status = @status, exchanged_at = NULL, exchange_attempts = 0,
           next_attempt_at = @now, last_error = @error, updated_at = @now
    WHERE id = @id`,
  failed: `
    UPDATE replies SET state = 'failed', next_attempt_at = NULL, last_error = @error, updated_at = @now, ${RELEASE}
    WHERE id = @id`,
} as const;

export type FactsRow = { user_id: string | null; request_token_issued_at: string | null; retries: number };
