import { ConcurError } from './errors.js';
import { FIELD_MAX_LENGTH } from './record.js';

/**
 * How much one answer from Concur may hold, worked out from the page the relay asked for, and a
 * scan that enforces it before the parser runs.
 *
 * Before, because the parser's cost grows far faster than the body: under the 5 MB cap, one 4 MB
 * field cost fast-xml-parser 160 MB and most of a second, 15,000 small requests (1 MB) 40 MB,
 * 200,000 entity references (1 MB) 50 MB, on every poll. Bounds checked on what it built come too
 * late. The scan is linear (indexOf and charCodeAt over the string), allocates nothing and stops
 * at the first bound crossed; the record schema then bounds each field exactly.
 */

/** Concur's largest page (v3.0 Swagger: limit at most 10): what a call that names no limit may get. */
export const CONCUR_MAX_PAGE = 10;

/** A page may hold twice the limit asked for: a Concur that rounds up is not hostile, one that sends 15,000 for 10 is. */
const PAGE_SLACK = 2;
/**
 * Bytes per request on the wire: about 1 KiB in practice (v3.2, e-mail addresses included);
 * every field at its maximum is about 11 KiB, and the rest leaves room for references and for
 * elements Concur may add.
 */
const ITEM_BYTES = 64 * 1024;
/** Bytes for the page around its requests (NextPage, namespaces), or an error page from a proxy in front of Concur. */
const BASE_BYTES = 64 * 1024;
/** Tags (`<`) per request: a v3.2 request has about 40. */
const TAGS_PER_ITEM = 128;
/**
 * Character and entity references per request: a name like O'Brien or Zoë is written with one or
 * two, a message with a few more; 1,024 is every character of a name written as one, four times over.
 */
const REFERENCES_PER_ITEM = 1024;
/** JSON objects and members per request: a v3.2 request is 2 objects of 19 members. */
const OBJECTS_PER_ITEM = 8;
const MEMBERS_PER_ITEM = 64;
/** What the page around its requests adds to each count. */
const BASE_COUNT = 64;

/**
 * The longest run of XML text without markup, or JSON string: twice the longest field, which
 * leaves room for references (`&amp;` is five characters for one).
 */
export const MAX_TEXT_RUN = 2 * Math.max(...Object.values(FIELD_MAX_LENGTH));

/** The most requests a page may hold when the relay asked for `pageLimit`. */
function maxItemsFor(pageLimit: number): number {
  return PAGE_SLACK * Math.max(1, pageLimit);
}

/** The largest body worth reading for a page of `pageLimit` (or one request: 1). */
export function bodyBudget(pageLimit: number): number {
  return BASE_BYTES + maxItemsFor(pageLimit) * ITEM_BYTES;
}

function bad(reason: string): ConcurError {
  return new ConcurError('bad_response', reason);
}

/** A page read in full may still hold too many requests (JSON is scanned by objects, not requests). */
export function checkItemCount(count: number, pageLimit: number | undefined): void {
  if (pageLimit !== undefined && count > maxItemsFor(pageLimit)) {
    throw bad(`${count} connection requests on one page; the relay asked for ${pageLimit}`);
  }
}

// Any prefix, any case: the codec reads <ConnectionRequest> namespace- and case-insensitively. Not <ConnectionRequests>.
const ITEM_TAG = /<(?:[A-Za-z_][\w.-]*:)?connectionrequest[\s/>]/gi;

/** Refuses XML that no page of `pageLimit` requests could be; without a limit, only over-long text. */
export function scanXml(text: string, pageLimit?: number): void {
  const maxItems = pageLimit === undefined ? undefined : maxItemsFor(pageLimit);
  if (maxItems !== undefined) {
    ITEM_TAG.lastIndex = 0;
    let items = 0;
    while (ITEM_TAG.exec(text) !== null) {
      if (++items > maxItems) throw bad(`more than ${maxItems} connection requests on one page; the relay asked for ${pageLimit}`);
    }
  }

  const maxTags = maxItems === undefined ? Number.POSITIVE_INFINITY : BASE_COUNT + maxItems * TAGS_PER_ITEM;
  let tags = 0;
  let previous = -1;
  for (let at = text.indexOf('<'); ; at = text.indexOf('<', at + 1)) {
    const end = at === -1 ? text.length : at;
    if (end - previous - 1 > MAX_TEXT_RUN) {
      const where = previous === -1 ? 'before its first tag' : `in <${tagName(text, previous)}>`;
      throw bad(`XML has more than ${MAX_TEXT_RUN} characters without markup ${where} (no field Concur sends is that long)`);
    }
    if (at === -1) break;
    if (++tags > maxTags) throw bad(`XML has more than ${maxTags} tags, far more than ${maxItems} connection requests need`);
    previous = at;
  }

  if (maxItems === undefined) return;
  const maxReferences = BASE_COUNT + maxItems * REFERENCES_PER_ITEM;
  let references = 0;
  for (let at = text.indexOf('&'); at !== -1; at = text.indexOf('&', at + 1)) {
    if (++references > maxReferences) {
      throw bad(`XML has more than ${maxReferences} character or entity references, far more than ${maxItems} connection requests need`);
    }
  }
}

/** The name of the tag that starts at `at`, for a message (`/Items` for a closing tag). */
function tagName(text: string, at: number): string {
  return /^\/?[^\s<>/!?]{1,64}/.exec(text.slice(at + 1, at + 66))?.[0] ?? text.slice(at + 1, at + 10);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const COLON = 0x3a;

/** Refuses JSON that no page of `pageLimit` requests could be; without a limit, only over-long strings. */
export function scanJson(text: string, pageLimit?: number): void {
  const maxItems = pageLimit === undefined ? undefined : maxItemsFor(pageLimit);
  const maxObjects = maxItems === undefined ? Number.POSITIVE_INFINITY : BASE_COUNT + maxItems * OBJECTS_PER_ITEM;
  const maxMembers = maxItems === undefined ? Number.POSITIVE_INFINITY : BASE_COUNT + maxItems * MEMBERS_PER_ITEM;
  let objects = 0;
  let members = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (end - i - 1 > MAX_TEXT_RUN) throw bad(`JSON has a string of more than ${MAX_TEXT_RUN} characters (no field Concur sends is that long)`);
      i = end;
    } else if (c === OPEN_BRACE) {
      if (++objects > maxObjects) throw bad(`JSON has more than ${maxObjects} objects, far more than ${maxItems} connection requests need`);
    } else if (c === COLON) {
      if (++members > maxMembers) throw bad(`JSON has more than ${maxMembers} members, far more than ${maxItems} connection requests need`);
    }
  }
}

/** The index of the quote that closes the string opened at `start` (the text's length if none). */
function stringEnd(text: string, start: number): number {
  for (let end = text.indexOf('"', start + 1); end !== -1; end = text.indexOf('"', end + 1)) {
    // Escaped when an odd number of backslashes precede it. Each backslash is looked at once
    // over the whole scan, since a quote ends the run before it.
    let slashes = 0;
    while (end - 1 - slashes > start && text.charCodeAt(end - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return end;
  }
  return text.length;
}
