import { XMLParser, XMLValidator, type X2jOptions } from 'fast-xml-parser';
import { z } from 'zod';
import { STATUS_CODES, normaliseStatus } from '../../shared/status.js';
import { checkItemCount, scanJson, scanXml } from './bounds.js';
import { ConcurError } from './errors.js';
import { ConcurRecord, type ConcurPage } from './record.js';
import { fromConcurTime } from './time.js';

export { fromConcurTime };

/**
 * Reads whatever Concur sends for connection requests: XML or JSON, v3.0 PascalCase or v3.2
 * camelCase, the `<ConnectionRequests><Items>` wrapper or the seed's bare `<ConnectionRequest>`
 * roots, and `Error{Message, Server-Time, Id}` bodies (which Concur may send with HTTP 200).
 * Both formats are reduced to the same shape, a map of lower-case field names to text or null,
 * so that one function builds and validates the record.
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

export type DecodedBody =
  | { kind: 'page'; page: ConcurPage }
  | { kind: 'record'; record: ConcurRecord }
  | { kind: 'error'; message: string; id: string | null; serverTime: string | null };

/** Field values by lower-case element or key name; null is `xsi:nil` or JSON null. */
type Fields = Map<string, string | null>;

interface XmlElement {
  name: string;
  /** Lower-case local name: Concur's element case varies between versions and documents. */
  key: string;
  nil: boolean;
  text: string;
  children: XmlElement[];
}

function bad(reason: string, cause?: unknown): ConcurError {
  return new ConcurError('bad_response', reason, {}, cause === undefined ? undefined : { cause });
}

function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.slice(0, 300);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads any body Concur sends. contentType may be null; sniff `{`/`[` vs `<` when it is missing or lies. Throws ConcurError('bad_response', reason) when unreadable. */
export function decodeBody(body: string, contentType: string | null, options: DecodeOptions = {}): DecodedBody {
  const limit = options.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const size = Buffer.byteLength(body, 'utf8');
  if (size > limit) throw bad(`body of ${size} bytes exceeds the limit of ${limit} bytes`);

  // The first character decides, not the header: Concur's Content-Type has been seen to disagree with its body.
  const text = body.startsWith('\uFEFF') ? body.slice(1) : body;
  const start = text.search(/\S/);
  const first = start === -1 ? '' : text[start];
  if (first === '<' || first === '{' || first === '[') {
    const decoded = first === '<' ? decodeXml(text, options.pageLimit) : decodeJson(text, options.pageLimit);
    if (decoded.kind === 'page') checkItemCount(decoded.page.items.length, options.pageLimit);
    return decoded;
  }
  const got = start === -1 ? 'an empty body' : `a body starting ${JSON.stringify(text.slice(start, start + 40))}`;
  throw bad(`expected XML or JSON from Concur, got ${got} (Content-Type: ${contentType ?? 'none'})`);
}

/** A list response → page. Bare record root → page of one (or several bare roots → page of all). <Error> body (even with HTTP 200) → throws ConcurError('concur_error', ..., {concurMessage, concurId}). */
export function decodePage(body: string, contentType: string | null, options: DecodeOptions = {}): ConcurPage {
  const decoded = decodeBody(body, contentType, options);
  if (decoded.kind === 'error') throw concurError(decoded);
  return decoded.kind === 'page' ? decoded.page : { items: [decoded.record], nextPage: null };
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

// ---- XML ----

/** Exported so the tests can show that the parser on its own never expands a DOCTYPE entity. */
export const XML_PARSER_OPTIONS = {
  // One shape for everything: repeated elements and several roots stay in document order.
  preserveOrder: true,
  // xsi:nil is an attribute.
  ignoreAttributes: false,
  removeNSPrefix: true,
  // Values keep their spaces, and "00123456" stays a string.
  trimValues: false,
  parseTagValue: false,
  parseAttributeValue: false,
  // No entity of any kind is expanded by the parser (in 5.x the default mode also leaves `&#13;` alone);
  // the five predefined ones and character references are decoded by decodeReferences below.
  processEntities: false,
  // CDATA is literal text; kept apart so that references inside it are not decoded.
  cdataPropName: '#cdata',
  ignoreDeclaration: true,
  ignorePiTags: true,
} as const satisfies X2jOptions;

const xmlParser = new XMLParser(XML_PARSER_OPTIONS);

const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function isXmlChar(code: number): boolean {
  return (
    code === 0x9 || code === 0xa || code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff)
  );
}

function decodeReferences(text: string): string {
  // Most text has no reference at all; skip the regular expression for it.
  if (!text.includes('&')) return text;
  return text.replace(/&([^&;\s]*);/g, (ref, name: string) => {
    const predefined = PREDEFINED[name];
    if (predefined !== undefined) return predefined;
    const numeric = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(name);
    if (!numeric) throw bad(`XML refers to the undefined entity ${ref} (Concur declares none)`);
    const code = numeric[1] !== undefined ? parseInt(numeric[1], 16) : parseInt(numeric[2]!, 10);
    if (!isXmlChar(code)) throw bad(`XML character reference ${ref} is not a character XML allows`);
    return String.fromCodePoint(code);
  });
}

function readNodes(nodes: unknown): { elements: XmlElement[]; text: string } {
  const elements: XmlElement[] = [];
  let text = '';
  for (const node of Array.isArray(nodes) ? nodes : []) {
    if (!isObject(node)) continue;
    for (const name in node) {
      if (name === ':@' || !Object.hasOwn(node, name)) continue;
      const value = node[name];
      if (name === '#text') text += decodeReferences(String(value));
      else if (name === '#cdata') text += rawText(value);
      else {
        const inner = readNodes(value);
        elements.push({ name, key: name.toLowerCase(), nil: isNil(node[':@']), text: inner.text, children: inner.elements });
      }
    }
  }
  return { elements, text };
}

function rawText(nodes: unknown): string {
  return (Array.isArray(nodes) ? nodes : []).map((node) => (isObject(node) ? String(node['#text'] ?? '') : '')).join('');
}

function isNil(attributes: unknown): boolean {
  const nil = isObject(attributes) ? attributes['@_nil'] : undefined;
  return nil !== undefined && ['true', '1'].includes(String(nil).trim());
}

// Concur's own v3.2 list example writes NextPage's query string with a bare `&` (`?limit=2&offset=…`).
// Such an `&` can only have meant itself. CDATA is left alone, as `&` inside it is already literal.
const STRAY_AMPERSAND = /&(?!#[0-9]+;|#x[0-9a-fA-F]+;|[A-Za-z_][\w.-]*;)/g;

function checkWellFormed(xml: string): void {
  let verdict = XMLValidator.validate(xml);
  if (verdict !== true && verdict.err.msg === 'Multiple possible root nodes found.') {
    // The seed's list examples are bare <ConnectionRequest> roots, one after another: check them as one document.
    const declaration = /^\s*<\?xml[^>]*\?>/.exec(xml)?.[0] ?? '';
    verdict = XMLValidator.validate(`${declaration}<roots>${xml.slice(declaration.length)}</roots>`);
  }
  if (verdict !== true) {
    throw bad(`malformed XML: ${verdict.err.msg} (line ${verdict.err.line}, column ${verdict.err.col})`);
  }
}

function decodeXml(text: string, pageLimit: number | undefined): DecodedBody {
  // A DTD is what entity expansion ("billion laughs") and external entities need, and Concur never sends one.
  if (/<!(DOCTYPE|ENTITY)/i.test(text)) {
    throw bad('XML with a DOCTYPE is refused (Concur never sends one, and its entities could exhaust memory)');
  }
  scanXml(text, pageLimit);
  const xml = text.includes('<![CDATA[') ? text : text.replace(STRAY_AMPERSAND, '&amp;');
  checkWellFormed(xml);
  let parsed: unknown;
  try {
    parsed = xmlParser.parse(xml);
  } catch (err) {
    throw bad(`unreadable XML: ${reasonOf(err)}`, err);
  }
  const roots = readNodes(parsed).elements;

  const error = roots.find((root) => root.key === 'error');
  if (error) return errorFrom(xmlFields(error));
  const [root] = roots;
  if (root?.key === 'connectionrequests' && roots.length === 1) {
    const items = root.children.find((child) => child.key === 'items')?.children ?? [];
    const next = root.children.find((child) => child.key === 'nextpage');
    return {
      kind: 'page',
      page: {
        items: items.map((item, i) => toRecord(xmlFields(item), `item ${i + 1}`)),
        nextPage: nextPageFrom(next === undefined || next.nil ? null : next.text),
      },
    };
  }
  if (root && roots.every((r) => r.key === 'connectionrequest')) {
    if (roots.length === 1) return { kind: 'record', record: toRecord(xmlFields(root), 'the connection request') };
    const items = roots.map((r, i) => toRecord(xmlFields(r), `item ${i + 1}`));
    return { kind: 'page', page: { items, nextPage: null } };
  }
  const names = roots.map((r) => `<${r.name}>`).slice(0, 3).join(', ');
  throw bad(`unexpected XML root ${names || '(none)'}; expected ConnectionRequests, ConnectionRequest or Error`);
}

function xmlFields(element: XmlElement): Fields {
  const fields: Fields = new Map();
  for (const child of element.children) {
    // Structured children (v3.2's emailAddresses) carry nothing the relay keeps.
    if (child.children.length > 0) continue;
    if (fields.has(child.key)) throw bad(`element <${child.name}> appears twice in <${element.name}>`);
    fields.set(child.key, child.nil ? null : child.text);
  }
  return fields;
}

// ---- JSON ----

function jsonFields(object: Record<string, unknown>): Fields {
  const fields: Fields = new Map();
  for (const [name, value] of Object.entries(object)) {
    const key = name.toLowerCase();
    if (fields.has(key)) throw bad(`JSON key "${name}" appears twice (keys are read case-insensitively)`);
    if (value === null || typeof value === 'string') fields.set(key, value);
    else if (typeof value === 'number' || typeof value === 'boolean') fields.set(key, String(value));
    // Objects and arrays (v3.2's emailAddresses) carry nothing the relay keeps.
  }
  return fields;
}

function valueOf(object: Record<string, unknown>, key: string): unknown {
  return Object.entries(object).find(([name]) => name.toLowerCase() === key)?.[1];
}

const RECORD_KEYS = new Set(Object.keys(ConcurRecord.shape).map((key) => key.toLowerCase()));

function decodeJson(text: string, pageLimit: number | undefined): DecodedBody {
  scanJson(text, pageLimit);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad(`malformed JSON: ${reasonOf(err)}`, err);
  }
  if (Array.isArray(json)) return { kind: 'page', page: { items: jsonRecords(json), nextPage: null } };
  if (!isObject(json)) throw bad('JSON body is not an object');

  const fields = jsonFields(json);
  const error = valueOf(json, 'error');
  if (isObject(error)) return errorFrom(jsonFields(error));
  const items = valueOf(json, 'items');
  if (items !== undefined) {
    if (items !== null && !Array.isArray(items)) throw bad('JSON "Items" is not a list');
    const next = valueOf(json, 'nextpage') ?? null;
    if (next !== null && typeof next !== 'string') throw bad('JSON "NextPage" is not a string');
    return { kind: 'page', page: { items: jsonRecords(items ?? []), nextPage: nextPageFrom(next) } };
  }
  // A connection request has a `Message` field of its own, so only a body with nothing else is an error.
  if ([...fields.keys()].some((key) => RECORD_KEYS.has(key) && key !== 'message')) {
    return { kind: 'record', record: toRecord(fields, 'the connection request') };
  }
  // SwiftyConcur treats a top-level {"Message": …} as an error too.
  if (fields.has('message')) return errorFrom(fields);
  const keys = Object.keys(json).slice(0, 10).join(', ');
  throw bad(`JSON body is neither a page, a connection request nor an error (keys: ${keys || 'none'})`);
}

function jsonRecords(items: unknown[]): ConcurRecord[] {
  return items.map((item, i) => {
    if (!isObject(item)) throw bad(`item ${i + 1} is not a JSON object`);
    return toRecord(jsonFields(item), `item ${i + 1}`);
  });
}

// ---- shared ----

function nextPageFrom(text: string | null): string | null {
  return text?.trim() || null;
}

function errorFrom(fields: Fields): DecodedBody {
  return {
    kind: 'error',
    message: fields.get('message') ?? '',
    id: fields.get('id') ?? null,
    serverTime: fields.get('server-time') ?? null,
  };
}

/** `where` names the record in messages; they never quote the request token. */
function toRecord(fields: Fields, where: string): ConcurRecord {
  const field = (name: keyof ConcurRecord): string | null => fields.get(name.toLowerCase()) ?? null;

  const id = field('id');
  if (id === null || id.trim() === '') throw bad(`${where} has no ID`);
  const rawStatus = field('status');
  if (rawStatus === null) throw bad(`connection request ${id} has no status`);
  const status = normaliseStatus(rawStatus);
  if (status === undefined) {
    throw bad(`connection request ${id} has an unknown status ${JSON.stringify(rawStatus)} (valid: ${STATUS_CODES.join(', ')})`);
  }
  const rawTime = field('lastModified');
  let lastModified: string | null = null;
  // An empty <LastModified /> says no more than a missing one.
  if (rawTime !== null && rawTime.trim() !== '') {
    try {
      lastModified = fromConcurTime(rawTime);
    } catch (err) {
      throw bad(`connection request ${id} has a bad LastModified: ${reasonOf(err)}`, err);
    }
  }

  const result = ConcurRecord.safeParse({
    id,
    uri: field('uri'),
    firstName: field('firstName'),
    middleName: field('middleName'),
    lastName: field('lastName'),
    loyaltyNumber: field('loyaltyNumber'),
    discountCode: field('discountCode'),
    status,
    requestToken: field('requestToken'),
    message: field('message'),
    lastModified,
    userId: field('userId'),
  });
  if (!result.success) throw bad(`connection request ${id} is invalid:\n${z.prettifyError(result.error)}`);
  return result.data;
}
