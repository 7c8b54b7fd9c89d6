import { scanXml } from './bounds.js';
import { readXml, type XmlElement } from './xml-read.js';
import { bad, errorFrom, nextPageFrom, pageReading, toRecord, type EmailEntries, type Fields, type ReadBody } from './decode-record.js';

/**
 * Concur's XML: v3.0 and v3.2, the `<ConnectionRequests><Items>` wrapper or the seed's bare
 * `<ConnectionRequest>` roots, `<Error>` bodies. No DTD, no entity but the predefined ones and
 * character references; bodies larger than the page asked for could be are refused before
 * parsing (bounds.ts); then one strict pass reads the elements (xml-read.ts).
 */

export function decodeXml(text: string, pageLimit: number | undefined): ReadBody {
  // A DTD is what entity expansion ("billion laughs") and external entities need, and Concur never sends one.
  if (/<!(DOCTYPE|ENTITY)/i.test(text)) {
    throw bad('XML with a DOCTYPE is refused (Concur never sends one, and its entities could exhaust memory)');
  }
  scanXml(text, pageLimit);
  const roots = readXml(text);

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

