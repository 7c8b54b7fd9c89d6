import type { FollowEventsOptions } from '../lib/sse-client.js';
import type { Settings } from '../lib/settings.js';

/**
 * The popup's one door to live events: `followEvents` (lib/sse-client.ts, which the background
 * follows too), seen through the narrow signature the popup codes against, so tests hand in a
 * fake and a change in lib/sse-client.ts touches only this file.
 */

export type { LiveEvent } from '../lib/sse-client.js';

/** followEvents' options without its reconnect timing, which is the background's business. */
export type FollowOptions = Omit<FollowEventsOptions, 'timing'>;

export type FollowEvents = (settings: Pick<Settings, 'relayUrl' | 'apiKey'>, options: FollowOptions) => Promise<void>;

export { followEvents } from '../lib/sse-client.js';
