import { MatchResult, type RequestMatch } from '../../shared/match.js';
import { ReplyState, type ConnectionRequest, type Reply } from '../../shared/models.js';
import {
  groupOf,
  isReplyCode,
  normaliseStatus,
  type ReplyCode,
  type StatusCode,
  type VersionRules,
} from '../../shared/status.js';
import { addMs } from './time.js';

/**
 * Row → model mapping, in one place. Rows are not validated again (only the store's typed
 * methods write them), but the mapping is total: a row it cannot read (a status or state this
 * version does not know) is treated as absent rather than guessed at.
 */

const REPLY_STATES: readonly ReplyState[] = ReplyState.options;

function readReplyState(value: string): ReplyState | undefined {
  return REPLY_STATES.find((state) => state === value);
}

export function readStatus(value: string): StatusCode | undefined {
  return normaliseStatus(value);
}

function readReplyCode(value: string): ReplyCode | undefined {
  return isReplyCode(value) ? value : undefined;
}

/** The columns of a reply that the API shows, under any prefix-free names. */
interface ReplyColumns {
  status: string;
  state: string;
  attempts: number;
  last_error: string | null;
  updated_at: string;
  requested_by: string | null;
}

function toReply(row: ReplyColumns): Reply | undefined {
  const status = readReplyCode(row.status);
  const state = readReplyState(row.state);
  if (status === undefined || state === undefined) return undefined;
  return {
    status,
    state,
    attempts: row.attempts,
    lastError: row.last_error,
    updatedAt: row.updated_at,
    requestedBy: row.requested_by,
  };
}

/**
 * An attempt whose outcome the store does not have, and what the relay knew of the request when
 * it started: what a read-back from Concur is compared with.
 */
export interface AttemptInDoubt {
  startedAt: string;
  /** SHA-256 (hex) of the request token then; null when there was none (or it is not known). */
  tokenSha256: string | null;
  /** Concur's LastModified then; null when Concur gave none. */
  lastModified: string | null;
}

/** A reply as the outbox worker sees it. Not an API shape: turn it into one with `toApiReply`. */
export interface OutboxReply {
  id: number;
  requestId: string;
  status: ReplyCode;
  state: ReplyState;
  attempts: number;
  lastError: string | null;
  /** When the worker should try next; null once sent or failed. */
  nextAttemptAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** Who asked for it (a key's name, or `auto`); null for replies from before names were kept. */
  requestedBy: string | null;
  /** What was asked for; `status` differs while a CRSUC goes by way of a CRRET (or ends as CRPA1/CRPA2). */
  requestedStatus: ReplyCode;
  /** A CRSUC: the traveller's tokens from its exchange are stored, so its PUT may go out. */
  exchanged: boolean;
  /** request_token_issued_at of the request token the last exchange tried (null: none yet, or none known). */
  tokenIssuedAt: string | null;
  /** Exchange tries in a row that Concur could not answer. */
  exchangeAttempts: number;
  /** Present only while the reply is in doubt (an attempt started and its outcome was never stored). */
  inDoubt?: AttemptInDoubt;
}

export interface ReplyRow extends ReplyColumns {
  id: number;
  request_id: string;
  next_attempt_at: string | null;
  created_at: string;
  attempt_started_at: string | null;
  attempt_token_sha256: string | null;
  attempt_last_modified: string | null;
  requested_status: string | null;
  exchanged_at: string | null;
  token_issued_at: string | null;
  exchange_attempts: number;
}

/** The SELECT list that produces a ReplyRow from `replies`. */
export const REPLY_COLUMNS =
  'id, request_id, status, state, attempts, last_error, next_attempt_at, created_at, updated_at, requested_by, ' +
  'attempt_started_at, attempt_token_sha256, attempt_last_modified, requested_status, exchanged_at, token_issued_at, exchange_attempts';

export function toOutboxReply(row: ReplyRow): OutboxReply | undefined {
  const reply = toReply(row);
  if (reply === undefined) return undefined;
  return {
    id: row.id,
    requestId: row.request_id,
    status: reply.status,
    state: reply.state,
    attempts: reply.attempts,
    lastError: reply.lastError,
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    requestedBy: reply.requestedBy,
    requestedStatus: (row.requested_status === null ? undefined : readReplyCode(row.requested_status)) ?? reply.status,
    exchanged: row.exchanged_at !== null,
    tokenIssuedAt: row.token_issued_at,
    exchangeAttempts: row.exchange_attempts,
    ...(row.attempt_started_at === null
      ? {}
      : {
          inDoubt: {
            startedAt: row.attempt_started_at,
            tokenSha256: row.attempt_token_sha256,
            lastModified: row.attempt_last_modified,
          },
        }),
  };
}

/** Exactly the API's Reply, with nothing of the outbox's bookkeeping. */
export function toApiReply(reply: OutboxReply): Reply {
  return {
    status: reply.status,
    state: reply.state,
    attempts: reply.attempts,
    lastError: reply.lastError,
    updatedAt: reply.updatedAt,
    requestedBy: reply.requestedBy,
  };
}

/** A request joined with its latest reply. Deliberately has no request_token column. */
export interface RequestViewRow {
  id: string;
  uri: string | null;
  first_name: string | null;
  middle_name: string | null;
  last_name: string | null;
  loyalty_number: string | null;
  discount_code: string | null;
  status: string;
  last_modified: string;
  first_seen_at: string;
  request_token_issued_at: string | null;
  retries: number;
  user_errors: number;
  user_id: string | null;
  email_addresses: string;
  reply_id: number | null;
  reply_status: string | null;
  reply_state: string | null;
  reply_attempts: number | null;
  reply_last_error: string | null;
  reply_updated_at: string | null;
  reply_requested_by: string | null;
  connection_id: string | null;
  /** The member directory's last answer (matches), when it was asked. */
  match_result: string | null;
  match_note: string | null;
  match_at: string | null;
}

/** The columns of `requests` that RequestViewRow shows (never request_token), unprefixed. */
const REQUEST_VIEW_REQUEST_COLUMNS =
  'id, uri, first_name, middle_name, last_name, loyalty_number, discount_code, status, last_modified, first_seen_at, request_token_issued_at, retries, ' +
  'user_errors, user_id, email_addresses';

/** The SELECT list of RequestViewRow over `q` (the request) and `r` (its latest reply). */
const REQUEST_VIEW_COLUMNS = `
  q.id, q.uri, q.first_name, q.middle_name, q.last_name, q.loyalty_number, q.discount_code,
  q.status, q.last_modified, q.first_seen_at, q.request_token_issued_at, q.retries, q.user_errors, q.user_id, q.email_addresses,
  r.id AS reply_id, r.status AS reply_status, r.state AS reply_state, r.attempts AS reply_attempts,
  r.last_error AS reply_last_error, r.updated_at AS reply_updated_at, r.requested_by AS reply_requested_by,
  (SELECT c.id FROM connections c WHERE c.request_id = q.id) AS connection_id,
  m.result AS match_result, m.note AS match_note, m.answered_at AS match_at`;

/**
 * `source` (the requests table, or a subquery over it with at least REQUEST_VIEW_REQUEST_COLUMNS)
 * as `q`, joined with its latest reply (the one with the highest id) as `r`.
 */
function requestViewFrom(source: string): string {
  return `FROM ${source} q
  LEFT JOIN replies r ON r.id = (SELECT MAX(x.id) FROM replies x WHERE x.request_id = q.id)
  LEFT JOIN matches m ON m.request_id = q.id`;
}

/**
 * The SELECT that produces RequestViewRow (alias `q` for requests). Add a WHERE that picks a few
 * rows by key after it. For a page, use `requestViewPage`: a WHERE / ORDER BY / LIMIT added here
 * would join every matching row to its reply and sort them all before the LIMIT.
 */
export const REQUEST_VIEW_SELECT = `SELECT ${REQUEST_VIEW_COLUMNS} ${requestViewFrom('requests')}`;

/**
 * One page of RequestViewRow, newest last_modified first (ties by id, descending): the page is
 * chosen from `requests` alone (`where`, over unprefixed columns, with the `@limit` parameter),
 * and only its rows are joined to their latest reply.
 */
export function requestViewPage(where: string): string {
  const filter = where === '' ? '' : ` WHERE ${where}`;
  return `SELECT ${REQUEST_VIEW_COLUMNS}
  ${requestViewFrom(`(SELECT ${REQUEST_VIEW_REQUEST_COLUMNS} FROM requests${filter}
         ORDER BY last_modified DESC, id DESC LIMIT @limit)`)}
  ORDER BY q.last_modified DESC, q.id DESC`;
}

/** How the store keeps a request's e-mail addresses: a JSON array, in Concur's order. */
export function emailAddressesJson(addresses: readonly string[]): string {
  return JSON.stringify(addresses);
}

/** The column back to the list; anything but an array of text (never written) reads as none. */
function readEmailAddresses(json: string): string[] {
  try {
    const value: unknown = JSON.parse(json);
    return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
  } catch {
    return [];
  }
}

function toMatch(row: Pick<RequestViewRow, 'match_result' | 'match_note' | 'match_at'>): RequestMatch | null {
  const result = MatchResult.options.find((known) => known === row.match_result);
  if (result === undefined || row.match_at === null) return null;
  return { result, note: row.match_note, at: row.match_at };
}

/**
 * `limits`: the retries the relay's Concur API version allows, shown beside the ones used, and how
 * long it takes the version's request tokens to live (shared/status.ts REQUEST_TOKEN_LIFETIME_MS).
 */
export function toConnectionRequest(row: RequestViewRow, limits: VersionRules): ConnectionRequest | undefined {
  const status = readStatus(row.status);
  if (status === undefined) return undefined;
  const reply =
    row.reply_id === null ||
    row.reply_status === null ||
    row.reply_state === null ||
    row.reply_attempts === null ||
    row.reply_updated_at === null
      ? undefined
      : toReply({
          status: row.reply_status,
          state: row.reply_state,
          attempts: row.reply_attempts,
          last_error: row.reply_last_error,
          updated_at: row.reply_updated_at,
          requested_by: row.reply_requested_by,
        });
  return {
    id: row.id,
    uri: row.uri,
    firstName: row.first_name,
    middleName: row.middle_name,
    lastName: row.last_name,
    loyaltyNumber: row.loyalty_number,
    discountCode: row.discount_code,
    status,
    group: groupOf(status),
    lastModified: row.last_modified,
    firstSeenAt: row.first_seen_at,
    requestTokenExpiresAt:
      row.request_token_issued_at === null ? null : addMs(row.request_token_issued_at, limits.requestTokenLifetimeMs),
    retries: row.retries,
    retryLimit: limits.CRRET,
    userErrors: row.user_errors,
    userErrorLimit: limits.CREU,
    userId: row.user_id,
    emailAddresses: readEmailAddresses(row.email_addresses),
    reply: reply ?? null,
    connectionId: row.connection_id,
    match: toMatch(row),
  };
}
