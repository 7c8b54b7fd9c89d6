import type { SseEventType } from '../../shared/models.js';
import type { FollowEventsOptions } from './sse-client.js';
import type { Settings } from './settings.js';

/**
 * The popup's one door to live events: the background's `followEvents` (sse-client.ts), seen
 * through the narrow signature the popup codes against, so tests hand in a fake and a change in
 * sse-client.ts touches only this file.
 */

export type LiveEventType = SseEventType;

export type { LiveEvent } from './sse-client.js';

/** followEvents' options without its reconnect timing, which is the background's business. */
export type FollowOptions = Omit<FollowEventsOptions, 'timing'>;

export type FollowEvents = (settings: Pick<Settings, 'relayUrl' | 'apiKey'>, options: FollowOptions) => Promise<void>;

export { followEvents } from './sse-client.js';
