import type { SseEventType } from '../../shared/models.js';
import type { RelayProblem } from './problems.js';
import type { Settings } from './settings.js';

/**
 * The popup's one door to live events: the background's `followEvents` (events.ts), seen
 * through the narrow signature the popup codes against, so tests hand in a fake and a change in
 * events.ts touches only this file.
 */

export type LiveEventType = SseEventType;

export interface LiveEvent {
  id: string;
  type: LiveEventType;
  data: unknown;
}

export interface FollowOptions {
  lastEventId?: string;
  signal: AbortSignal;
  onEvent(event: LiveEvent): void;
  onOpen?(): void;
  onProblem?(problem: RelayProblem): void;
  /** The fetch to connect with (the popup's prefetching one, popup-boot.ts); the global one by default. */
  fetch?: typeof fetch;
}

export type FollowEvents = (settings: Pick<Settings, 'relayUrl' | 'apiKey'>, options: FollowOptions) => Promise<void>;

export { followEvents } from './events.js';
