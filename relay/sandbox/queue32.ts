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
  const items: SandboxRequest[] = [];
  let position = 0;
  // A page walks every request before its offset: one clock reading and no copy of the list.
  const now = state.now;
  for (const request of state.values()) {
    if (!inQueue(state, request, now)) continue;
    if (position++ < offset) continue;
    if (items.length === limit) return { items, more: true };
    items.push(request);
  }
  return { items, more: false };
}

export function inQueue(state: SandboxState, request: SandboxRequest, now?: number): boolean {
  return (request.status === 'Pending' || request.status === 'Processing') && !state.isPopped(request, now);
}
