import { ConnectionRequest, ReplyUpdatedData, Summary, type Reply } from '../../shared/models.js';
import { GROUPS, type Group, type ReplyCode } from '../../shared/status.js';
import type { Connection } from '../../shared/connections.js';
import { connectionsFrom, NO_CONNECTIONS, withConnection, type ConnectionsByRequest } from './connections.js';
import type { LiveEvent } from './live.js';
import { RelayProblem, type Problem } from '../lib/problems.js';
import { replyText, travellerName } from './view.js';
import { POPUP_TEXT, PROBLEM_TEXTS } from '../lib/texts.js';

/**
 * The popup's state as one pure reducer: what was loaded, what live events changed, and the
 * replies this popup is sending. The component layer only dispatches and renders.
 */

/** A reply this popup is sending (or failed to hand to the relay). The key is reused by "Try again". */
export interface SendState {
  code: ReplyCode;
  idempotencyKey: string;
  phase: 'sending' | 'failed';
  error: string | null;
}

export interface ProblemInfo {
  problem: Problem;
  detail?: string;
}

interface Announcement {
  text: string;
  kind: 'status' | 'error';
  /** Increases with each announcement, so the same text is announced again. */
  seq: number;
}

export interface PopupState {
  /**
   * loading: nothing to show yet; ready: data shown (maybe with a problem banner); error: nothing
   * to show but a problem. The first load is ready once the summary and one group are in: each
   * group is shown as soon as its own list has arrived (see `loaded`).
   */
  phase: 'loading' | 'ready' | 'error';
  /** The groups whose list has arrived at least once (a tab whose group has not shows "Loading"). */
  loaded: Readonly<Record<Group, boolean>>;
  /** A load is in flight (the first one, a retry or a quiet refresh). */
  loading: boolean;
  problem: ProblemInfo | null;
  summary: Summary | null;
  items: ReadonlyMap<string, ConnectionRequest>;
  /** The relay's connections, by request (connections.ts). */
  connections: ConnectionsByRequest;
  sends: Readonly<Record<string, SendState>>;
  /** Requests this popup replied to: only their outcomes are announced. */
  own: ReadonlySet<string>;
  /** Events received while a load is in flight, replayed over its snapshot. */
  buffered: readonly LiveEvent[];
  announcement: Announcement | null;
}

export type PopupAction =
  | { type: 'reset' }
  | { type: 'load/start' }
  /** The first load, piece by piece: the summary, then each group's whole list as it arrives. */
  | { type: 'load/summary'; summary: Summary }
  | { type: 'load/group'; group: Group; items: readonly ConnectionRequest[] }
  /** `connections`: the relay's list, or undefined when it has none to give (no such route, or it failed): what is known stays. */
  | { type: 'load/done'; summary: Summary; groups: Record<Group, readonly ConnectionRequest[]>; connections?: readonly Connection[] }
  | { type: 'load/failed'; problem: ProblemInfo }
  | { type: 'event'; event: LiveEvent }
  /** The live stream was refused the key (revoked while the popup is open). */
  | { type: 'live/refused' }
  | { type: 'request/fetched'; request: ConnectionRequest }
  | { type: 'reply/sending'; id: string; code: ReplyCode; idempotencyKey: string }
  | { type: 'reply/accepted'; id: string; reply: Reply }
  | { type: 'reply/failed'; id: string; problem: ProblemInfo };

const NONE_LOADED: Readonly<Record<Group, boolean>> = { pending: false, failed: false, connected: false };
const ALL_LOADED: Readonly<Record<Group, boolean>> = { pending: true, failed: true, connected: true };

export const initialState: PopupState = {
  phase: 'loading',
  loaded: NONE_LOADED,
  loading: true,
  problem: null,
  summary: null,
  items: new Map(),
  connections: NO_CONNECTIONS,
  sends: {},
  own: new Set(),
  buffered: [],
  announcement: null,
};

export function toProblem(error: unknown): ProblemInfo {
  if (error instanceof RelayProblem) return error.detail ? { problem: error.problem, detail: error.detail } : { problem: error.problem };
  return { problem: 'relay_error' };
}

export function problemMessage(p: ProblemInfo): string {
  const message = PROBLEM_TEXTS[p.problem].message;
  return p.detail ? `${message} (${p.detail})` : message;
}

const time = (iso: string) => Date.parse(iso);

/** The newer of two replies; a reply never goes back to none. */
function newerReply(a: Reply | null, b: Reply | null): Reply | null {
  if (a === null) return b;
  if (b === null) return a;
  return time(b.updatedAt) >= time(a.updatedAt) ? b : a;
}

/** Merges what we had with what came in: the newer request wins (ties go to the incoming one), and the newer reply. */
function merge(current: ConnectionRequest | undefined, incoming: ConnectionRequest): ConnectionRequest {
  if (current === undefined) return incoming;
  const base = time(incoming.lastModified) >= time(current.lastModified) ? incoming : current;
  const reply = newerReply(current.reply, incoming.reply);
  if (base.reply === reply) return base;
  return { ...base, reply };
}

function upsert(items: ReadonlyMap<string, ConnectionRequest>, incoming: ConnectionRequest): ReadonlyMap<string, ConnectionRequest> {
  const current = items.get(incoming.id);
  const next = merge(current, incoming);
  if (next === current) return items;
  const copy = new Map(items);
  copy.set(next.id, next);
  return copy;
}

function announce(state: PopupState, text: string, kind: Announcement['kind']): Announcement {
  return { text, kind, seq: (state.announcement?.seq ?? 0) + 1 };
}

function nameOf(state: PopupState, id: string): string {
  const item = state.items.get(id);
  return item ? travellerName(item) : id;
}

function parseData(data: unknown): unknown {
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

/** Applies one live event; events whose data does not fit the shared models are ignored. */
function applyEvent(state: PopupState, event: LiveEvent): PopupState {
  const data = parseData(event.data);
  switch (event.type) {
    case 'summary': {
      const summary = Summary.safeParse(data);
      return summary.success ? { ...state, summary: summary.data } : state;
    }
    case 'request.created':
    case 'request.updated': {
      const request = ConnectionRequest.safeParse(data);
      return request.success ? { ...state, items: upsert(state.items, request.data) } : state;
    }
    case 'connection.created':
    case 'connection.updated': {
      const connections = withConnection(state.connections, data);
      return connections === state.connections ? state : { ...state, connections };
    }
    case 'reply.updated': {
      const parsed = ReplyUpdatedData.safeParse(data);
      if (!parsed.success) return state;
      const { requestId, reply } = parsed.data;
      const current = state.items.get(requestId);
      if (current === undefined) return state;
      const merged = newerReply(current.reply, reply);
      if (merged === current.reply) return state;
      const items = new Map(state.items);
      items.set(requestId, { ...current, reply: merged });
      let announcement = state.announcement;
      if (state.own.has(requestId) && merged === reply) {
        const name = travellerName(current);
        const text = replyText(reply.status);
        if (reply.state === 'sent') announcement = announce(state, POPUP_TEXT.announceAccepted(text, name), 'status');
        if (reply.state === 'failed') announcement = announce(state, POPUP_TEXT.announceRefused(text, name, reply.lastError), 'error');
        // The click goes on another way (a CRRET first): said once, as it happens.
        if (reply.state === 'waiting_token' && current.reply?.state !== 'waiting_token') {
          announcement = announce(state, POPUP_TEXT.announceWaitingToken(name), 'status');
        }
      }
      return { ...state, items, announcement };
    }
    default:
      return state;
  }
}

/**
 * A refused key (revoked, or replaced in the relay) turns the whole popup into that problem, even
 * with a list on screen: nothing it shows can be acted on any more, and only a new key helps.
 */
const isRefused = (problem: ProblemInfo): boolean => problem.problem === 'key_refused';

export function reduce(state: PopupState, action: PopupAction): PopupState {
  switch (action.type) {
    case 'reset':
      return initialState;

    case 'load/start':
      return { ...state, loading: true, buffered: [], phase: state.phase === 'ready' ? 'ready' : 'loading' };

    case 'load/summary':
      // Only the first load is shown piece by piece; a refresh replaces everything at once (load/done).
      if (!state.loading || state.phase === 'ready') return state;
      return { ...state, summary: action.summary, phase: Object.values(state.loaded).some(Boolean) ? 'ready' : state.phase };

    case 'load/group': {
      if (!state.loading || state.loaded[action.group]) return state;
      // Merged over what is there (live events applied meanwhile are newer, and win); load/done
      // later replaces it all with the complete snapshot and replays those events over it.
      let items = state.items;
      for (const r of action.items) {
        const current = items.get(r.id);
        const next = merge(current, r);
        if (next === current) continue;
        if (items === state.items) items = new Map(state.items);
        (items as Map<string, ConnectionRequest>).set(r.id, next);
      }
      const loaded = { ...state.loaded, [action.group]: true };
      return { ...state, items, loaded, phase: state.summary !== null && state.phase !== 'error' ? 'ready' : state.phase };
    }

    case 'load/done': {
      const items = new Map<string, ConnectionRequest>();
      for (const group of GROUPS) for (const r of action.groups[group]) items.set(r.id, merge(items.get(r.id), r));
      // Replies this popup knows of but the snapshot does not yet show are kept (newer reply wins).
      for (const [id, r] of items) {
        const known = state.items.get(id);
        if (known === undefined) continue;
        const reply = newerReply(r.reply, known.reply);
        if (reply !== r.reply) items.set(id, { ...r, reply });
      }
      // The same requests as shown (the first load, already shown group by group): kept as they are.
      const same = items.size === state.items.size && [...items].every(([id, r]) => state.items.get(id) === r);
      let next: PopupState = {
        ...state,
        summary: action.summary,
        items: same ? state.items : items,
        connections: action.connections === undefined ? state.connections : connectionsFrom(action.connections),
        phase: 'ready',
        loaded: ALL_LOADED,
        loading: false,
        problem: null,
      };
      for (const event of state.buffered) next = applyEvent(next, event);
      return { ...next, buffered: [] };
    }

    case 'load/failed':
      return {
        ...state,
        loading: false,
        buffered: [],
        problem: action.problem,
        phase: state.phase === 'ready' && !isRefused(action.problem) ? 'ready' : 'error',
      };

    case 'live/refused':
      return { ...state, loading: false, buffered: [], problem: { problem: 'key_refused' }, phase: 'error' };

    case 'event': {
      const next = applyEvent(state, action.event);
      return state.loading ? { ...next, buffered: [...state.buffered, action.event] } : next;
    }

    case 'request/fetched':
      return { ...state, items: upsert(state.items, action.request) };

    case 'reply/sending':
      return {
        ...state,
        sends: { ...state.sends, [action.id]: { code: action.code, idempotencyKey: action.idempotencyKey, phase: 'sending', error: null } },
      };

    case 'reply/accepted': {
      const { [action.id]: _done, ...sends } = state.sends;
      const current = state.items.get(action.id);
      let items = state.items;
      if (current !== undefined) {
        const reply = newerReply(current.reply, action.reply);
        if (reply !== current.reply) {
          const copy = new Map(items);
          copy.set(action.id, { ...current, reply });
          items = copy;
        }
      }
      const own = new Set(state.own).add(action.id);
      // The relay sends a reply on at once, so Concur's answer (a live event) can arrive before
      // the 202 does: then announce that outcome, not "Sent".
      const known = items.get(action.id)?.reply ?? null;
      const outcome = known !== null && known !== action.reply && known.status === action.reply.status ? known : null;
      const button = replyText(action.reply.status);
      const name = nameOf(state, action.id);
      const announcement =
        outcome?.state === 'sent'
          ? announce(state, POPUP_TEXT.announceAccepted(button, name), 'status')
          : outcome?.state === 'failed'
            ? announce(state, POPUP_TEXT.announceRefused(button, name, outcome.lastError), 'error')
            : announce(state, POPUP_TEXT.announceSent(button, name), 'status');
      return { ...state, items, sends, own, announcement };
    }

    case 'reply/failed': {
      const send = state.sends[action.id];
      if (send === undefined) return state;
      const message = problemMessage(action.problem);
      const text = POPUP_TEXT.announceSendFailed(replyText(send.code), nameOf(state, action.id), message);
      const refused = isRefused(action.problem) ? { problem: action.problem, phase: 'error' as const } : {};
      // The relay says it cannot connect anyone (a summary read before that changed): every row's
      // Connected follows at once, rather than at the next summary.
      const summary =
        action.problem.problem === 'exchange_unavailable' && state.summary !== null
          ? { ...state.summary, exchange: { state: 'unavailable' as const, reason: action.problem.detail ?? null } }
          : state.summary;
      return {
        ...state,
        ...refused,
        summary,
        sends: { ...state.sends, [action.id]: { ...send, phase: 'failed', error: message } },
        announcement: announce(state, text, 'error'),
      };
    }
  }
}
