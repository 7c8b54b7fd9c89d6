import type { Connection } from '../../shared/connections.js';
import type { ConnectionRequest, Reply, Summary } from '../../shared/models.js';
import type { Me } from '../../shared/people.js';
import { can } from '../../shared/roles.js';
import { STATUS_CATALOGUE, isUserErrorCode, type Group, type ReplyCode } from '../../shared/status.js';
import { AUTO_CONNECT, directoryAsking, displayGroup, isAutoReply, replyInFlight } from '../lib/attention.js';
import { POPUP_TEXT, TEXT } from '../lib/texts.js';

/**
 * Pure presentation rules of the popup: how a request is named, placed, dated and which replies
 * it offers in which order. No DOM, no clock of its own (every function takes `now`).
 */

const TOKEN_WARNING_MS = 5 * 60 * 1000;

/** "First Middle Last"; a middle name that is null or "" is left out, as is any empty part. */
export function travellerName(r: Pick<ConnectionRequest, 'firstName' | 'middleName' | 'lastName'>): string {
  const name = [r.firstName, r.middleName, r.lastName]
    .map((part) => (part ?? '').trim())
    .filter((part) => part !== '')
    .join(' ');
  return name === '' ? POPUP_TEXT.noName : name;
}

export function loyaltyText(r: Pick<ConnectionRequest, 'loyaltyNumber'>): string {
  const n = (r.loyaltyNumber ?? '').trim();
  return n === '' ? POPUP_TEXT.noLoyalty : POPUP_TEXT.loyalty(n);
}

/** The traveller's e-mail addresses as one line, and as its tooltip; null when Concur sent none (API 3.0 never does). */
export function emailText(r: Pick<ConnectionRequest, 'emailAddresses'>): { text: string; title: string } | null {
  const addresses = r.emailAddresses.map((a) => a.trim()).filter((a) => a !== '');
  if (addresses.length === 0) return null;
  return { text: POPUP_TEXT.emails(addresses), title: POPUP_TEXT.emailsTitle(addresses) };
}

/**
 * How much of Concur's allowance a request has used: "2 of 48 retries used", and where the version
 * limits the CREU codes too (3.2) "· 1 of 4 loyalty-number replies used". `always` false: null
 * while none was used, so that a row says it only once it matters (the "More" group, beside the
 * replies that spend it, always does).
 */
export function retryCountText(
  r: Pick<ConnectionRequest, 'retries' | 'retryLimit' | 'userErrors' | 'userErrorLimit'>,
  always: boolean,
): string | null {
  if (!always && r.retries === 0 && r.userErrors === 0) return null;
  const parts = [POPUP_TEXT.retriesUsed(r.retries, r.retryLimit)];
  if (r.userErrorLimit !== null) parts.push(POPUP_TEXT.userErrorsUsed(r.userErrors, r.userErrorLimit));
  return parts.join(' · ');
}

export function statusLabel(r: Pick<ConnectionRequest, 'status'>): string {
  return STATUS_CATALOGUE[r.status].label;
}

export function ageText(iso: string, now: number): string {
  return POPUP_TEXT.age(now - Date.parse(iso));
}

type TokenInfo =
  | { state: 'none' }
  | { state: 'ok' | 'warning'; msLeft: number; text: string }
  | { state: 'expired'; text: string };

/** How long a pending request's token has left; 'none' when Concur has not issued one. */
export function tokenInfo(r: Pick<ConnectionRequest, 'requestTokenExpiresAt'>, now: number): TokenInfo {
  if (r.requestTokenExpiresAt === null) return { state: 'none' };
  const msLeft = Date.parse(r.requestTokenExpiresAt) - now;
  if (!(msLeft > 0)) return { state: 'expired', text: TEXT.tokenExpired };
  return {
    state: msLeft < TOKEN_WARNING_MS ? 'warning' : 'ok',
    msLeft,
    text: TEXT.tokenLeft(Math.floor(msLeft / 60_000)),
  };
}

// Which group a request is shown in and whether its reply is still on its way: the background's
// badge asks the same rules (lib/attention.ts), so they live there.
export { displayGroup, replyInFlight } from '../lib/attention.js';

/** The time a request is sorted by (newest first): when it last changed, or when it was moved by a reply. */
export function sortTime(r: Pick<ConnectionRequest, 'group' | 'reply' | 'lastModified'>): number {
  const own = Date.parse(r.lastModified);
  if (r.reply !== null && displayGroup(r) !== r.group) return Math.max(own, Date.parse(r.reply.updatedAt));
  return own;
}

export interface ReplyChoice {
  code: ReplyCode;
  /** The button's text. */
  text: string;
  /** The catalogue's description (the seed's own words), for the tooltip. */
  description: string;
  /** Why the button cannot be used, or null. */
  disabledReason: string | null;
  /** The reason is the same for every row (the relay cannot connect anyone): said once above the list, not in each row. */
  reasonAbove: boolean;
}

interface ReplyChoices {
  /** Shown on the row itself; the first enabled one is the primary (Enter lands on it; none enabled: "More"). */
  inline: ReplyChoice[];
  /** Behind the "More" button. */
  more: ReplyChoice[];
  primary: ReplyCode | null;
  /** True when the token has expired and the useful replies were put first. */
  expired: boolean;
}

const NORMAL_ORDER: readonly ReplyCode[] = ['CRSUC', 'CREU1', 'CREU2', 'CREU3', 'CRPA1', 'CRPA2', 'CRRET'];
/** A request whose token expired cannot be connected any more: a new token or "expired" is what helps. */
const EXPIRED_ORDER: readonly ReplyCode[] = ['CRRET', 'CRPA1', 'CRSUC', 'CREU1', 'CREU2', 'CREU3', 'CRPA2'];

export function replyText(code: ReplyCode): string {
  return POPUP_TEXT.replyButton(code, STATUS_CATALOGUE[code].label);
}

/**
 * Who asked for a reply, and how long ago it last changed: "Connected by Alice · 2 min ago",
 * "Connected automatically · 1 min ago"; null when the relay does not know (replies from before
 * it kept names).
 */
export function replyByText(reply: Reply | null, now: number): string | null {
  if (reply === null || reply.requestedBy === null) return null;
  const by = reply.requestedBy === AUTO_CONNECT ? null : reply.requestedBy;
  return POPUP_TEXT.replyBy(reply.status, replyText(reply.status), by, ageText(reply.updatedAt, now));
}

/**
 * Who made a connection and when, as replyByText says it of a reply: "Connected by Alice · 2 min
 * ago", "Connected automatically · 1 min ago".
 */
export function connectedByText(c: Pick<Connection, 'connectedBy' | 'connectedAt'>, now: number): string {
  const by = c.connectedBy === AUTO_CONNECT ? null : c.connectedBy;
  return POPUP_TEXT.replyBy('CRSUC', replyText('CRSUC'), by, ageText(c.connectedAt, now));
}

/** What a connection's state means (`broken`: the partner cannot use it; shown as a failure). */
export function connectionText(c: Pick<Connection, 'state' | 'lastRefreshedAt' | 'lastError'>, now: number): { text: string; broken: boolean } {
  switch (c.state) {
    case 'active':
      return { text: POPUP_TEXT.connection.active(c.lastRefreshedAt === null ? null : ageText(c.lastRefreshedAt, now), c.lastError), broken: false };
    case 'refresh_failed':
      return { text: POPUP_TEXT.connection.refreshFailed(c.lastError), broken: true };
    case 'revoked':
      return { text: POPUP_TEXT.connection.revoked, broken: false };
  }
}

/**
 * What a row says about its reply while the relay holds it or after Concur refused it (`error`:
 * shown as a failure); null once Concur took it, or with no reply.
 */
export function replyStateText(reply: Reply | null): { text: string; error: boolean } | null {
  if (reply === null) return null;
  const button = replyText(reply.status);
  if (isAutoReply(reply) && replyInFlight(reply)) {
    // Nobody clicked: the steps of the exchange are the relay's business, what is under way is not.
    return { text: reply.status === 'CRSUC' ? POPUP_TEXT.autoConnecting : POPUP_TEXT.autoReplying(button), error: false };
  }
  switch (reply.state) {
    case 'queued':
      return { text: POPUP_TEXT.queued(button, reply.attempts, reply.lastError), error: false };
    case 'exchanging':
      return { text: POPUP_TEXT.exchanging(reply.attempts, reply.lastError), error: false };
    case 'waiting_token':
      return { text: POPUP_TEXT.waitingToken(reply.lastError), error: false };
    case 'failed':
      return { text: POPUP_TEXT.concurRefused(button, reply.lastError), error: true };
    case 'sent':
      return null;
  }
}

/**
 * What a pending row says about auto-connect: "auto-connecting…" while the directory has yet to
 * answer (lib/attention.ts), the directory's answer once it has (why the request waits for a
 * person), or null when the directory was not asked. A reply on its way speaks for itself
 * (replyStateText).
 */
export function matchText(r: Pick<ConnectionRequest, 'reply' | 'match'>, directory: boolean): { text: string; auto: boolean } | null {
  if (directoryAsking(r, directory)) return { text: POPUP_TEXT.askingDirectory, auto: true };
  if (r.match === null) return null;
  return { text: POPUP_TEXT.directoryNote(POPUP_TEXT.directory[r.match.result], r.match.note), auto: false };
}

/**
 * Why the relay cannot connect anyone now, as the popup says it (its summary's `exchange`: no
 * partner credentials, or Concur refused them; a CRSUC would only be answered 422), or null.
 */
export function connectBlocked(summary: Pick<Summary, 'exchange'> | null): string | null {
  if (summary === null || summary.exchange.state !== 'unavailable') return null;
  return POPUP_TEXT.connectUnavailable(summary.exchange.reason);
}

const choiceCache = new Map<string, ReplyChoice>();

type Allowance = Pick<ConnectionRequest, 'retries' | 'retryLimit' | 'userErrors' | 'userErrorLimit'>;

/** Why the relay would refuse this reply for having been used up (its 409 retry_limit), or null. */
function spentReason(code: ReplyCode, r: Allowance): string | null {
  // The limits come with the request: the relay's Concur API version sets them (5 CRRET under
  // 3.0; 48 CRRET and 4 CREU under 3.2, where a CREU requeues instead of failing for good).
  if (code === 'CRRET' && r.retries >= r.retryLimit) return POPUP_TEXT.retryLimit(r.retries, r.retryLimit);
  if (isUserErrorCode(code) && r.userErrorLimit !== null && r.userErrors >= r.userErrorLimit) {
    return POPUP_TEXT.userErrorLimit(r.userErrors, r.userErrorLimit);
  }
  return null;
}

function choice(code: ReplyCode, r: Allowance, blocked: string | null): ReplyChoice {
  const connectReason = code === 'CRSUC' ? blocked : null;
  const disabledReason = connectReason ?? spentReason(code, r);
  const key = `${code}|${disabledReason ?? ''}`;
  let found = choiceCache.get(key);
  if (found === undefined) {
    const reasonAbove = connectReason !== null;
    found = { code, text: replyText(code), description: STATUS_CATALOGUE[code].description, disabledReason, reasonAbove };
    choiceCache.set(key, found);
  }
  return found;
}

/**
 * The replies a request offers, in the order that helps most: a pending one shows its primary
 * reply (Connected, or once the token expired: a new token / "expired") with the rest behind
 * "More"; a failed one has all of them behind "More"; a connected one needs none (null).
 */
export function replyChoices(
  r: Pick<ConnectionRequest, 'group' | 'reply' | 'lastModified' | 'requestTokenExpiresAt'> & Allowance,
  now: number,
  /** connectBlocked's reason: Connected is offered, disabled, with it. */
  blocked: string | null = null,
): ReplyChoices | null {
  const group = displayGroup(r);
  if (group === 'connected') return null;
  // A failed request was already answered; a correction is possible but never one click away.
  if (group === 'failed') return { inline: [], more: NORMAL_ORDER.map((code) => choice(code, r, blocked)), primary: null, expired: false };
  const expired = group === 'pending' && tokenInfo(r, now).state === 'expired';
  const all = (expired ? EXPIRED_ORDER : NORMAL_ORDER).map((code) => choice(code, r, blocked));
  const inlineCount = expired ? 2 : 1;
  const inline = all.slice(0, inlineCount);
  const more = all.slice(inlineCount);
  // Only a reply on the row itself: Enter must never land on a reply hidden behind "More"
  // (with Connected unavailable, "Loyalty number not found" is no stand-in for it).
  const primary = inline.find((c) => c.disabledReason === null)?.code ?? null;
  return { inline, more, primary, expired };
}

export type PopupTarget = { request: string } | { group: Group } | null;

/** What the page's hash points at: `#request=<id>` or `#group=pending` (set when a notification is clicked). */
export function parseTarget(hash: string): PopupTarget {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const request = params.get('request');
  if (request !== null && request !== '') return { request };
  const group = params.get('group');
  if (group === 'pending' || group === 'failed' || group === 'connected') return { group };
  return null;
}

/**
 * Whether the popup offers replies: unless the relay said the key's role may not send them. A key
 * not (yet) known, or a relay without `/me`, keeps its buttons: the relay has the last word, and
 * its 403 is shown in the row.
 */
export function mayReply(me: Me | null): boolean {
  return me === null || can(me.role, 'reply');
}
