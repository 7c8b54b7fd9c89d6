import type { ConnectionRequest, Reply } from '../../shared/models.js';
import { groupOf, type Group } from '../../shared/status.js';

/**
 * Auto-connect as the extension sees it: which requests wait for a person and which the relay is
 * handling by itself. The badge, the notifications and the Pending tab all ask these rules, so
 * they never disagree about what needs someone.
 *
 * What the relay tells (DESIGN.md, "Auto-connect"): `summary.autoConnect.directory` says whether
 * it asks a member directory about every new pending request; when it does, it records the
 * answer as `match` within the call's timeout (a failed call as `unknown`, with a note), so a
 * pending request with neither a match nor a reply is one the directory is being asked about.
 * A reply that auto-connect asked for has `requestedBy: "auto"`.
 */

/** `requestedBy` of a reply that auto-connect asked for, and `connectedBy` of its connection. */
export const AUTO_CONNECT = 'auto';

/**
 * A reply the relay holds and has not finished: queued for Concur, a CRSUC whose request token is
 * being exchanged, or one waiting for the new token its CRRET asked for. Each is still the click
 * (or the auto reply) that was made, and no other reply can be sent.
 */
export function replyInFlight(reply: Reply | null | undefined): boolean {
  return reply?.state === 'queued' || reply?.state === 'exchanging' || reply?.state === 'waiting_token';
}

export function isAutoReply(reply: Reply | null | undefined): boolean {
  return reply?.requestedBy === AUTO_CONNECT;
}

/**
 * Which group a request is shown in. A person's reply the relay has accepted but Concur has not
 * yet confirmed already places the request where that reply takes it (the optimistic move); when
 * Concur refuses the reply (state "failed") the request goes back to its own group. A reply
 * marked sent before the request itself was updated places it too, so the order in which
 * `reply.updated` and `request.updated` arrive does not matter. An auto reply on its way is not
 * moved: nobody clicked, and the Pending tab is where a person watches it finish ("auto-connecting…").
 */
export function displayGroup(r: Pick<ConnectionRequest, 'group' | 'reply' | 'lastModified'>): Group {
  const reply = r.reply;
  if (reply === null) return r.group;
  if (replyInFlight(reply)) return isAutoReply(reply) ? r.group : groupOf(reply.status);
  if (reply.state === 'sent' && Date.parse(reply.updatedAt) > Date.parse(r.lastModified)) return groupOf(reply.status);
  return r.group;
}

/**
 * What a request shown as pending needs: `person` (the badge counts it, a notification announces
 * it, the Pending tab puts it first) or `auto` (the relay is on it: its auto reply is on the way,
 * or the directory has yet to answer). null for a request not shown as pending.
 */
export type Attention = 'person' | 'auto';

export function attention(r: Pick<ConnectionRequest, 'group' | 'reply' | 'lastModified' | 'match'>, directory: boolean): Attention | null {
  if (displayGroup(r) !== 'pending') return null;
  if (replyInFlight(r.reply)) return isAutoReply(r.reply) ? 'auto' : 'person';
  if (directoryAsking(r, directory)) return 'auto';
  return 'person';
}

/**
 * A request the directory is being asked about: the relay asks one (`directory`, the summary's
 * `autoConnect.directory`), and it has neither an answer nor a reply yet.
 */
export function directoryAsking(r: Pick<ConnectionRequest, 'reply' | 'match'>, directory: boolean): boolean {
  return directory && r.reply === null && r.match === null;
}

/** The requests that wait for a person, of a list the relay gave (any group). */
export function waitingForPerson<T extends Pick<ConnectionRequest, 'group' | 'reply' | 'lastModified' | 'match'>>(
  requests: readonly T[],
  directory: boolean,
): T[] {
  return requests.filter((r) => attention(r, directory) === 'person');
}
