import type { ConnectionRequest } from '../../shared/models.js';
import { travellerName } from './view.js';

/**
 * Search by name or loyalty number, case- and accent-insensitive ("zoe" finds "Zoë"), and
 * separator-insensitive for loyalty numbers ("1234 5678" finds "12345678"). Each request's
 * search key is computed once per request object (requests are immutable in the popup's
 * state, so an update brings a new object and a new key).
 */

const SPECIAL: Record<string, string> = { ø: 'o', ł: 'l', đ: 'd', ð: 'd', þ: 'th', æ: 'ae', œ: 'oe', ß: 'ss', ı: 'i' };

export function fold(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[øłđðþæœßı]/g, (c) => SPECIAL[c] ?? c);
}

const compact = (text: string) => text.replace(/[^\p{L}\p{N}]/gu, '');

interface SearchKey {
  name: string;
  loyalty: string;
  loyaltyCompact: string;
}

const keys = new WeakMap<ConnectionRequest, SearchKey>();

function keyOf(r: ConnectionRequest): SearchKey {
  let key = keys.get(r);
  if (key === undefined) {
    const loyalty = fold(r.loyaltyNumber ?? '');
    key = { name: fold(travellerName(r)), loyalty, loyaltyCompact: compact(loyalty) };
    keys.set(r, key);
  }
  return key;
}

interface Query {
  text: string;
  tokens: string[];
}

export function parseQuery(text: string): Query {
  return { text: text.trim(), tokens: fold(text).split(/\s+/).filter((t) => t !== '') };
}

/** Every word of the query must appear in the name or the loyalty number. */
export function matches(r: ConnectionRequest, query: Query): boolean {
  if (query.tokens.length === 0) return true;
  const key = keyOf(r);
  return query.tokens.every((token) => {
    if (key.name.includes(token) || key.loyalty.includes(token)) return true;
    const bare = compact(token);
    return bare !== '' && key.loyaltyCompact.includes(bare);
  });
}

export function filterRequests(items: readonly ConnectionRequest[], text: string): readonly ConnectionRequest[] {
  const query = parseQuery(text);
  if (query.tokens.length === 0) return items;
  return items.filter((r) => matches(r, query));
}
