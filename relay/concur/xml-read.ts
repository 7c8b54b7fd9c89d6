import { SaxesParser } from 'saxes';
import { bad } from './decode-record.js';
import { ConcurError } from './errors.js';

/**
 * Concur's XML read in one strict pass by saxes (well-formedness, the predefined entities and
 * character references, line ends), straight into the few elements decode-xml.ts works on. A
 * validator and a parser over every body, then a walk of the objects they built, had been most of
 * the CPU a page cost.
 *
 * Two tolerances, as before: the seed's lists are bare `<ConnectionRequest>` roots one after
 * another, read as the roots of one document; and Concur's own 3.2 example writes NextPage's query
 * string with a bare `&`, which can only have meant itself.
 */

export interface XmlElement {
  /** The local name, as written (its namespace prefix removed). */
  name: string;
  /** Lower-case local name: Concur's element case varies between versions and documents. */
  key: string;
  /** Marked `xsi:nil="true"` (or `1`). */
  nil: boolean;
  /** Its own text (children's not included), CDATA as written. */
  text: string;
  children: XmlElement[];
}

/** Concur's pages are five deep; a document far deeper is no page. */
const MAX_DEPTH = 32;

const DECLARATION = /^\s*<\?xml[^>]*\?>/;
const STRAY_AMPERSAND = /&(?!#[0-9]+;|#x[0-9a-fA-F]+;|[A-Za-z_][\w.-]*;)/g;
/** What wraps the roots: a name no document of Concur's can hold (no prefix `xml` is Concur's). */
const WRAPPER = 'xml-relay-roots';

/** The document's root elements, in order. Throws ConcurError('bad_response') saying what is wrong and where. */
export function readXml(text: string): XmlElement[] {
  // CDATA keeps `&` literal already; outside it a stray one is escaped to mean itself.
  const xml = text.includes('&') && !text.includes('<![CDATA[') ? text.replace(STRAY_AMPERSAND, '&amp;') : text;
  const declaration = DECLARATION.exec(xml)?.[0] ?? '';
  const wrapper: XmlElement = { name: WRAPPER, key: WRAPPER, nil: false, text: '', children: [] };
  const open: XmlElement[] = [];
  const parser = new SaxesParser({ xmlns: false, position: false });
  let tooDeep = false;
  parser.on('opentag', (tag) => {
    const parent = open.at(-1);
    if (parent === undefined) {
      open.push(wrapper);
      return;
    }
    if (open.length > MAX_DEPTH) tooDeep = true;
    const colon = tag.name.indexOf(':');
    const name = colon === -1 ? tag.name : tag.name.slice(colon + 1);
    const element: XmlElement = { name, key: name.toLowerCase(), nil: isNil(tag.attributes), text: '', children: [] };
    parent.children.push(element);
    open.push(element);
  });
  parser.on('text', (value) => {
    const current = open.at(-1);
    if (current !== undefined) current.text += value;
  });
  parser.on('cdata', (value) => {
    const current = open.at(-1);
    if (current !== undefined) current.text += value;
  });
  let closing = '';
  parser.on('closetag', (tag) => {
    closing = tag.name;
    open.pop();
  });
  // The declaration stays first, where XML wants it; the roots go inside one element of ours.
  let bodyLine = 1;
  let bodyColumn = 0;
  try {
    parser.write(`${declaration}<${WRAPPER}>`);
    bodyLine = parser.line;
    bodyColumn = parser.column - declaration.length;
    parser.write(xml.slice(declaration.length));
    if (open.length > 1) throw bad(`malformed XML: <${open.at(-1)!.name}> is never closed`);
    parser.write(`</${WRAPPER}>`).close();
  } catch (error) {
    if (error instanceof ConcurError) throw error;
    const column = parser.line === bodyLine ? parser.column - bodyColumn : parser.column;
    throw bad(`malformed XML: ${reason(error, xml, closing)} (line ${parser.line}, column ${column})`, error);
  }
  if (tooDeep) throw bad(`unreadable XML: elements nested more than ${MAX_DEPTH} deep`);
  if (wrapper.text.trim() !== '') throw bad('malformed XML: text outside the root element');
  return wrapper.children;
}

function isNil(attributes: Record<string, string>): boolean {
  for (const name in attributes) {
    if (name === 'nil' || (name.endsWith(':nil') && !name.startsWith('xmlns:'))) {
      const value = attributes[name]!.trim();
      return value === 'true' || value === '1';
    }
  }
  return false;
}

/** saxes's reason, naming what it leaves unnamed: the entity, the element whose closing tag was due. */
function reason(error: unknown, xml: string, closing: string): string {
  const said = (error instanceof Error ? error.message : String(error)).replace(/^\d+:\d+: /, '').replace(/\.$/, '');
  if (said === 'unexpected close tag') return `Expected closing tag '${closing.slice(closing.indexOf(':') + 1)}'`;
  if (said === 'undefined entity') {
    const entity = [...xml.matchAll(/&([A-Za-z_][\w.-]*);/g)].find((ref) => !Object.hasOwn(PREDEFINED, ref[1]!))?.[0];
    if (entity !== undefined) return `XML refers to the undefined entity ${entity} (Concur declares none)`;
  }
  if (said === 'malformed character entity') {
    const reference = [...xml.matchAll(/&#(?:x([0-9a-fA-F]+)|([0-9]+));/g)].find((ref) => !isXmlChar(ref[1] !== undefined ? parseInt(ref[1], 16) : Number(ref[2])))?.[0];
    if (reference !== undefined) return `XML character reference ${reference} is not a character XML allows`;
  }
  return said;
}

const PREDEFINED: Readonly<Record<string, true>> = { lt: true, gt: true, amp: true, quot: true, apos: true };

function isXmlChar(code: number): boolean {
  return code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
}
