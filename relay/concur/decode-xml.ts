import { XMLParser, XMLValidator, type X2jOptions } from 'fast-xml-parser';
import { scanXml } from './bounds.js';
import { readPlainXml, type XmlElement } from './xml-plain.js';
import { bad, errorFrom, isObject, nextPageFrom, pageReading, reasonOf, toRecord, type EmailEntries, type Fields, type ReadBody } from './decode-record.js';

/**
 * Concur's XML: v3.0 and v3.2, the `<ConnectionRequests><Items>` wrapper or the seed's bare
 * `<ConnectionRequest>` roots, `<Error>` bodies. No DTD, no entity but the predefined ones and
 * character references; bodies larger than the page asked for could be are refused before
 * parsing (bounds.ts). The plain XML Concur sends is read in one pass (xml-plain.ts); whatever that
 * pass is not sure of goes through fast-xml-parser's validator and parser, whose reasons are given.
 */

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

/** The roots as fast-xml-parser reads them, once its validator has found the document well formed (else its reason). */
export function parsedRoots(text: string): XmlElement[] {
  const xml = text.includes('<![CDATA[') ? text : text.replace(STRAY_AMPERSAND, '&amp;');
  checkWellFormed(xml);
  let parsed: unknown;
  try {
    parsed = xmlParser.parse(xml);
  } catch (err) {
    throw bad(`unreadable XML: ${reasonOf(err)}`, err);
  }
  return readNodes(parsed).elements;
}

export function decodeXml(text: string, pageLimit: number | undefined): ReadBody {
  // A DTD is what entity expansion ("billion laughs") and external entities need, and Concur never sends one.
  if (/<!(DOCTYPE|ENTITY)/i.test(text)) {
    throw bad('XML with a DOCTYPE is refused (Concur never sends one, and its entities could exhaust memory)');
  }
  scanXml(text, pageLimit);
  const roots = readPlainXml(text) ?? parsedRoots(text);

  const error = roots.find((root) => root.key === 'error');
  if (error) return errorFrom(xmlFields(error));
  const [root] = roots;
  if (root?.key === 'connectionrequests' && roots.length === 1) {
    const items = root.children.find((child) => child.key === 'items')?.children ?? [];
    const next = root.children.find((child) => child.key === 'nextpage');
    const nextPage = nextPageFrom(next === undefined || next.nil ? null : next.text);
    return pageReading(items.length, nextPage, () => items.map((item, i) => xmlRecord(item, `item ${i + 1}`)));
  }
  if (root && roots.every((r) => r.key === 'connectionrequest')) {
    if (roots.length === 1) return { kind: 'record', record: xmlRecord(root, 'the connection request') };
    return pageReading(roots.length, null, () => roots.map((r, i) => xmlRecord(r, `item ${i + 1}`)));
  }
  const names = roots.map((r) => `<${r.name}>`).slice(0, 3).join(', ');
  throw bad(`unexpected XML root ${names || '(none)'}; expected ConnectionRequests, ConnectionRequest or Error`);
}

function xmlRecord(element: XmlElement, where: string) {
  const emails = element.children.find((child) => child.key === 'emailaddresses');
  if (emails !== undefined && element.children.filter((child) => child.key === 'emailaddresses').length > 1) {
    throw bad(`element <${emails.name}> appears twice in <${element.name}>`);
  }
  const entries: EmailEntries | undefined = emails?.children.map((child) => [child.name, child.nil ? null : child.text] as const);
  return toRecord(xmlFields(element), where, entries);
}

function xmlFields(element: XmlElement): Fields {
  const fields: Fields = new Map();
  for (const child of element.children) {
    // Structured children (emailAddresses, read by xmlRecord; elements Concur may add) are no text fields.
    if (child.children.length > 0 || child.key === 'emailaddresses') continue;
    if (fields.has(child.key)) throw bad(`element <${child.name}> appears twice in <${element.name}>`);
    fields.set(child.key, child.nil ? null : child.text);
  }
  return fields;
}

