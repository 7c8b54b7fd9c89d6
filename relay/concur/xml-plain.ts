/**
 * Concur's pages in one pass: the plain XML it sends (elements, attributes, text, references, an
 * XML declaration) read straight into the elements decode-xml.ts works on. fast-xml-parser's
 * validator and its parser each walk the body once and build far more than the relay reads; for
 * a page of ten requests that was most of the CPU a page cost.
 *
 * It decides nothing: it returns undefined for anything outside that plain shape (comments, CDATA,
 * processing instructions, carriage returns, names outside ASCII, entities beyond the five, any
 * markup that is not well formed…) and the validator and parser read it as before, with their
 * messages. So what it accepts must be exactly what they accept and read the same way, which the
 * tests check against them (test/relay/concur/xml-plain.test.ts).
 */

export interface XmlElement {
  /** The local name, as written (its namespace prefix removed). */
  name: string;
  /** Lower-case local name: Concur's element case varies between versions and documents. */
  key: string;
  nil: boolean;
  text: string;
  children: XmlElement[];
}

// One optional prefix; ASCII only (the validator's Unicode names are left to it).
const NAME = /^(?:[A-Za-z_][\w.-]*:)?[A-Za-z_][\w.-]*$/;
// What the validator accepts as the declaration, narrowed to what Concur writes.
const DECLARATION = /^<\?xml version="1\.[01]"(?: encoding="[A-Za-z0-9._-]+")?(?: standalone="(?:yes|no)")?\s?\?>/;
// The references decode-xml.ts decodes: any other `&` is a stray one and means itself (as there).
const REFERENCE = /&(?:#([0-9]+)|#x([0-9a-fA-F]+)|([A-Za-z_][\w.-]*));/y;
const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
/** Concur's pages are five deep; the parser refuses documents far deeper. */
const MAX_DEPTH = 32;

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const GT = 0x3e;
const SLASH = 0x2f;
const EQUALS = 0x3d;
const QUESTION = 0x3f;
const QUOTE = 0x22;
const APOSTROPHE = 0x27;

function isSpace(code: number): boolean {
  return code === SPACE || code === TAB || code === LF;
}

function isBlank(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isSpace(text.charCodeAt(i))) return false;
  return true;
}

function isXmlChar(code: number): boolean {
  return (
    code === 0x9 || code === 0xa || code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff)
  );
}

type ElementName = Pick<XmlElement, 'name' | 'key'>;

/** The local name of a valid element name, or null (`xmlns:…` included: the parser drops those). */
function readName(raw: string): ElementName | null {
  if (!NAME.test(raw)) return null;
  const colon = raw.indexOf(':');
  if (colon !== -1 && raw.slice(0, colon) === 'xmlns') return null;
  const name = colon === -1 ? raw : raw.slice(colon + 1);
  // The parser builds objects keyed by name: __proto__, constructor and the like are left to it.
  return name in Object.prototype ? null : { name, key: name.toLowerCase() };
}

/** A page repeats a dozen names a hundred times: each is read once (a hostile body's many names stop being remembered). */
const knownNames = new Map<string, ElementName | null>();
const KNOWN_NAMES = 256;

function elementName(raw: string): ElementName | null {
  let known = knownNames.get(raw);
  if (known === undefined) {
    known = readName(raw);
    if (knownNames.size < KNOWN_NAMES) knownNames.set(raw, known);
  }
  return known;
}

/** Text with its references decoded; undefined when one would be refused (the full reader says why). */
function decodeText(text: string, from: number, to: number): string | undefined {
  let amp = text.indexOf('&', from);
  if (amp === -1 || amp >= to) return text.slice(from, to);
  let out = '';
  let done = from;
  for (; amp !== -1 && amp < to; amp = text.indexOf('&', amp + 1)) {
    REFERENCE.lastIndex = amp;
    const ref = REFERENCE.exec(text);
    if (ref === null || REFERENCE.lastIndex > to) continue;
    let decoded: string | undefined;
    if (ref[3] !== undefined) decoded = PREDEFINED[ref[3]];
    else {
      const code = ref[1] !== undefined ? parseInt(ref[1], 10) : parseInt(ref[2]!, 16);
      decoded = isXmlChar(code) ? String.fromCodePoint(code) : undefined;
    }
    if (decoded === undefined) return undefined;
    out += text.slice(done, amp) + decoded;
    done = REFERENCE.lastIndex;
    amp = done - 1;
  }
  return out + text.slice(done, to);
}

interface OpenTag {
  element: XmlElement;
  /** The name as written, which the end tag must repeat. */
  raw: string;
  /** After the tag's `>` (or `/>`). */
  end: number;
  selfClosing: boolean;
}

/** The start tag at `at` (its `<`), or undefined when it is not plainly well formed. */
function readOpenTag(text: string, at: number): OpenTag | undefined {
  let i = at + 1;
  while (i < text.length && !isSpace(text.charCodeAt(i)) && text.charCodeAt(i) !== GT && text.charCodeAt(i) !== SLASH) i++;
  const raw = text.slice(at + 1, i);
  const name = elementName(raw);
  if (name === null) return undefined;
  const names: string[] = [];
  let nils = 0;
  let nil = false;
  for (;;) {
    const before = i;
    while (isSpace(text.charCodeAt(i))) i++;
    const c = text.charCodeAt(i);
    if (c === GT || (c === SLASH && text.charCodeAt(i + 1) === GT)) {
      const selfClosing = c === SLASH;
      return { element: { name: name.name, key: name.key, nil, text: '', children: [] }, raw, end: i + (selfClosing ? 2 : 1), selfClosing };
    }
    if (i === before) return undefined;
    const nameStart = i;
    while (i < text.length && !isSpace(text.charCodeAt(i)) && text.charCodeAt(i) !== EQUALS && text.charCodeAt(i) !== GT) i++;
    const attribute = text.slice(nameStart, i);
    if (!NAME.test(attribute) || names.includes(attribute) || text.charCodeAt(i) !== EQUALS) return undefined;
    names.push(attribute);
    const quote = text.charCodeAt(i + 1);
    if (quote !== QUOTE && quote !== APOSTROPHE) return undefined;
    const close = text.indexOf(quote === QUOTE ? '"' : "'", i + 2);
    if (close === -1) return undefined;
    const value = text.slice(i + 2, close);
    if (/[<>&]/.test(value)) return undefined;
    const colon = attribute.indexOf(':');
    if ((colon === -1 ? attribute : attribute.slice(colon + 1)) === 'nil' && attribute.slice(0, colon) !== 'xmlns') {
      nils++;
      nil = value.trim() === 'true' || value.trim() === '1';
    }
    // Which of two nil attributes wins is the parser's business.
    if (nils > 1) return undefined;
    i = close + 1;
  }
}

/** The document's root elements, in order, or undefined when it is not in the plain shape (see above). */
export function readPlainXml(text: string): XmlElement[] | undefined {
  // The parser turns CR LF into LF and the validator has its own rules for what follows `<!` and `<?`.
  if (text.includes('\r') || text.includes('<!')) return undefined;
  let i = 0;
  if (text.startsWith('<?')) {
    const declaration = DECLARATION.exec(text);
    if (declaration === null) return undefined;
    i = declaration[0].length;
  }
  const roots: XmlElement[] = [];
  const open: OpenTag[] = [];
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const end = lt === -1 ? text.length : lt;
    const parent = open.at(-1);
    if (parent === undefined) {
      if (!isBlank(text, i, end)) return undefined;
    } else if (end > i) {
      const decoded = decodeText(text, i, end);
      if (decoded === undefined) return undefined;
      parent.element.text += decoded;
    }
    if (lt === -1) break;
    if (text.charCodeAt(lt + 1) === SLASH) {
      const close = text.indexOf('>', lt + 2);
      if (close === -1 || parent === undefined || text.slice(lt + 2, close) !== parent.raw) return undefined;
      open.pop();
      i = close + 1;
      continue;
    }
    if (text.charCodeAt(lt + 1) === QUESTION) return undefined;
    const tag = readOpenTag(text, lt);
    if (tag === undefined || open.length >= MAX_DEPTH) return undefined;
    (parent === undefined ? roots : parent.element.children).push(tag.element);
    if (!tag.selfClosing) open.push(tag);
    i = tag.end;
  }
  return open.length === 0 && roots.length > 0 ? roots : undefined;
}
