import type { SandboxRequest, SandboxState } from './state.js';

/**
 * API 3.2's list, as Concur's page has described it since August 2023: a queue of the pending
 * requests, read by position. `offset` is an integer ("PUT can be seen as popping from the left of
 * the queue"), so a PUT between two GETs moves every request behind it one place to the left.
 * What is in the queue: Pending and Processing requests (3.2 lists both as Pending: its status "is
 * always 'Pending' when you GET"), except those a CRRET or CREU popped until they are requeued.
 * A requeued request takes its old place in the queue: Concur does not say where it goes.
 */
export function queuePage(state: SandboxState, offset: number, limit: number): { items: SandboxRequest[]; more: boolean } {
  const members = queueMembers(state, state.now);
  return { items: members.slice(offset, offset + limit), more: members.length > offset + limit };
}

export function inQueue(state: SandboxState, request: SandboxRequest, now?: number): boolean {
  return (request.status === 'Pending' || request.status === 'Processing') && !state.isPopped(request, now);
}

/** The queue as last derived, and while when it holds: the state's revision and a span of its clock. */
interface Derived {
  revision: number;
  from: number;
  /** When the first popped request returns (Infinity: none is popped). */
  until: number;
  members: SandboxRequest[];
}

const derived = new WeakMap<SandboxState, Derived>();

/**
 * The queue in order. Deriving it walks every request, which a sweep of 10,000 in pages of ten
 * would do a thousand times (half the sandbox's time a page, measured): so it is derived once
 * and kept until a request may have entered or left it (the state's revision moves) or the clock
 * reaches the return of a popped one (or goes back: the sandbox clock can be set).
 */
function queueMembers(state: SandboxState, now: number): SandboxRequest[] {
  const kept = derived.get(state);
  if (kept !== undefined && kept.revision === state.revision && now >= kept.from && now < kept.until) return kept.members;
  const members: SandboxRequest[] = [];
  let until = Infinity;
  for (const request of state.values()) {
    if (inQueue(state, request, now)) members.push(request);
    else if (request.poppedUntil !== null && request.poppedUntil > now) until = Math.min(until, request.poppedUntil);
  }
  derived.set(state, { revision: state.revision, from: now, until, members });
  return members;
}
