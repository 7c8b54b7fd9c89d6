import type { SyncSnapshot } from './sync.js';

/**
 * Runtime messages the background answers. The popup sends
 * `browser.runtime.sendMessage({ type: 'refresh' })` (popup/deps.ts, which spells the message out
 * rather than import the background's code) and gets `{ type: 'refreshed', snapshot }` once the
 * refresh is done (badge and notifications updated).
 */
interface RefreshMessage {
  type: 'refresh';
}

export interface RefreshedReply {
  type: 'refreshed';
  snapshot: SyncSnapshot;
}

export function isRefreshMessage(message: unknown): message is RefreshMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'refresh';
}
