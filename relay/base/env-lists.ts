import { MIN_API_KEY_LENGTH } from './config-shape.js';
import { isToken, type ListItem } from './env-fields.js';
import { originPattern } from './origins.js';

/** What the two listed variables hold, one item at a time: RELAY_API_KEYS and RELAY_CORS_ORIGINS. */

export const API_KEY_EXAMPLE = '$(openssl rand -hex 24)';

/** One of RELAY_API_KEYS: printable, no spaces, long enough; its value never in a message. */
export function apiKey(key: string, index: number, count: number): ListItem {
  const which = count === 1 ? 'the key' : `key ${index + 1} of ${count}`;
  const example = API_KEY_EXAMPLE;
  if (!isToken(key)) {
    return {
      problem: `${which} contains spaces, quotes or characters outside printable ASCII (value not shown)`,
      fix: { advice: 'separate keys with commas only', example },
    };
  }
  if (key.length < MIN_API_KEY_LENGTH) {
    return {
      problem: `${which} is too short (${key.length} characters, value not shown)`,
      fix: { advice: `use at least ${MIN_API_KEY_LENGTH} random characters`, example },
    };
  }
  return key;
}

/** One of RELAY_CORS_ORIGINS: an origin, `*` standing for a host or port. */
export function corsOrigin(entry: string): ListItem {
  return (
    originPattern(entry) ?? {
      problem: `${JSON.stringify(entry)} is not an origin (scheme://host[:port], no path; * may stand for the host or port)`,
      fix: { example: 'chrome-extension://*,moz-extension://*,https://ops.example.com' },
    }
  );
}
