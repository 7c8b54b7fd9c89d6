import { checkItemCount } from './bounds.js';
import { bad, builtPage, type DecodedBody, type PageReading, type ReadBody } from './decode-record.js';
import { decodeJson } from './decode-json.js';
import { decodeXml } from './decode-xml.js';
import { ConcurError } from './errors.js';
import type { ConcurPage, ConcurRecord } from './record.js';

/**
 * Reads whatever Concur sends for connection requests: XML (decode-xml.ts) or JSON
 * (decode-json.ts), v3.0 PascalCase or v3.2 camelCase, the `<ConnectionRequests><Items>` wrapper
 * or the seed's bare `<ConnectionRequest>` roots, and `Error{Message, Server-Time, Id}` bodies
 * (which Concur may send with HTTP 200). Both formats are reduced to the same shape, so that one
 * function builds and validates the record (decode-record.ts).
 */

export const DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024;

export interface DecodeOptions {
  /** Bodies longer than this many bytes (UTF-8) are refused; default DEFAULT_MAX_BODY_BYTES. */
  maxBytes?: number;
  /**
   * The page size the relay asked for (1 for one request). A body that holds far more requests,
   * or more markup than they could need, is refused, before parsing where the body shows it
   * (bounds.ts). Without it only over-long text is: the codec alone reads pages of any size.
   */
  pageLimit?: number;
}

/** Reads any body Concur sends. contentType may be null; sniff `{`/`[` vs `<` when it is missing or lies. Throws ConcurError('bad_response', reason) when unreadable. */
export function decodeBody(body: string, contentType: string | null, options: DecodeOptions = {}): DecodedBody {
  const read = readBody(body, contentType, options);
  return read.kind === 'page' ? { kind: 'page', page: builtPage(read.page) } : read;
}

/** decodeBody with a page's records left to build (decode-record.ts, PageReading). */
function readBody(body: string, contentType: string | null, options: DecodeOptions): ReadBody {
  const limit = options.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const size = Buffer.byteLength(body, 'utf8');
  if (size > limit) throw bad(`body of ${size} bytes exceeds the limit of ${limit} bytes`);

  // The first character decides, not the header: Concur's Content-Type has been seen to disagree with its body.
  const text = body.startsWith('\uFEFF') ? body.slice(1) : body;
  const start = text.search(/\S/);
  const first = start === -1 ? '' : text[start];
  if (first === '<' || first === '{' || first === '[') {
    const decoded = first === '<' ? decodeXml(text, options.pageLimit) : decodeJson(text, options.pageLimit);
    if (decoded.kind === 'page') checkItemCount(decoded.page.count, options.pageLimit);
    return decoded;
  }
  const got = start === -1 ? 'an empty body' : `a body starting ${JSON.stringify(text.slice(start, start + 40))}`;
  throw bad(`expected XML or JSON from Concur, got ${got} (Content-Type: ${contentType ?? 'none'})`);
}

/** A list response → page. Bare record root → page of one (or several bare roots → page of all). <Error> body (even with HTTP 200) → throws ConcurError('concur_error', ..., {concurMessage, concurId}). */
export function decodePage(body: string, contentType: string | null, options: DecodeOptions = {}): ConcurPage {
  return builtPage(readPage(body, contentType, options));
}

/** decodePage, its records built (and validated, which may throw) only when `records()` is called. */
export function readPage(body: string, contentType: string | null, options: DecodeOptions = {}): PageReading {
  const read = readBody(body, contentType, options);
  if (read.kind === 'error') throw concurError(read);
  if (read.kind === 'page') return read.page;
  return { nextPage: null, count: 1, records: () => [read.record] };
}

/** GET by id → record; same error handling. A page with exactly one item is accepted too. */
export function decodeRecord(body: string, contentType: string | null, options: DecodeOptions = {}): ConcurRecord {
  const decoded = decodeBody(body, contentType, options);
  if (decoded.kind === 'error') throw concurError(decoded);
  if (decoded.kind === 'record') return decoded.record;
  const [only, ...more] = decoded.page.items;
  if (only === undefined || more.length > 0) {
    throw bad(`expected one connection request, got a page of ${decoded.page.items.length}`);
  }
  return only;
}

function concurError(error: Extract<DecodedBody, { kind: 'error' }>): ConcurError {
  const id = error.id ?? undefined;
  return new ConcurError(
    'concur_error',
    `Concur answered with an error: ${error.message || '(no message)'}${id ? ` (Id ${id})` : ''}`,
    { concurMessage: error.message, concurId: id },
  );
}

