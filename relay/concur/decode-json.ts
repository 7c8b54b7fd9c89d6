import { scanJson } from './bounds.js';
import { bad, errorFrom, isObject, nextPageFrom, pageReading, reasonOf, toRecord, type EmailEntries, type Fields, type ReadBody } from './decode-record.js';
import { ConcurRecord } from './record.js';

/** Concur's JSON: v3.0 PascalCase or v3.2 camelCase, pages, single requests and errors. */

function jsonFields(object: Record<string, unknown>): Fields {
  const fields: Fields = new Map();
  // for…in rather than Object.entries: no array per member (JSON.parse makes plain objects, own keys only).
  for (const name in object) {
    const value = object[name];
    const key = name.toLowerCase();
    if (fields.has(key)) throw bad(`JSON key "${name}" appears twice (keys are read case-insensitively)`);
    if (value === null || typeof value === 'string') fields.set(key, value);
    else if (typeof value === 'number' || typeof value === 'boolean') fields.set(key, String(value));
    // Objects and arrays (emailAddresses, read by jsonEmails; members Concur may add) are no text fields.
  }
  return fields;
}

/** v3.2's `"emailAddresses": {"email1": …, "email5": null}` (an array of addresses is read too). */
function jsonEmails(object: Record<string, unknown>, where: string): EmailEntries | undefined {
  const value = valueOf(object, 'emailaddresses');
  if (value === undefined || value === null) return undefined;
  const entries: Array<[string, unknown]> = Array.isArray(value)
    ? value.map((item, i) => [`email${i + 1}`, item])
    : isObject(value)
      ? Object.entries(value)
      : [['emailAddresses', value]];
  return entries.map(([name, text]) => {
    if (text !== null && typeof text !== 'string') throw bad(`${where} has an e-mail address that is not text (${name})`);
    return [name, text] as const;
  });
}

function valueOf(object: Record<string, unknown>, key: string): unknown {
  for (const name in object) if (name.toLowerCase() === key) return object[name];
  return undefined;
}

const RECORD_KEYS = new Set(Object.keys(ConcurRecord.shape).map((key) => key.toLowerCase()));

export function decodeJson(text: string, pageLimit: number | undefined): ReadBody {
  scanJson(text, pageLimit);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad(`malformed JSON: ${reasonOf(err)}`, err);
  }
  if (Array.isArray(json)) {
    const list: unknown[] = json;
    return pageReading(list.length, null, () => jsonRecords(list));
  }
  if (!isObject(json)) throw bad('JSON body is not an object');

  const fields = jsonFields(json);
  const error = valueOf(json, 'error');
  if (isObject(error)) return errorFrom(jsonFields(error));
  const items = valueOf(json, 'items');
  if (items !== undefined) {
    if (items !== null && !Array.isArray(items)) throw bad('JSON "Items" is not a list');
    const next = valueOf(json, 'nextpage') ?? null;
    if (next !== null && typeof next !== 'string') throw bad('JSON "NextPage" is not a string');
    const list = items ?? [];
    return pageReading(list.length, nextPageFrom(next), () => jsonRecords(list));
  }
  // A connection request has a `Message` field of its own, so only a body with nothing else is an error.
  if ([...fields.keys()].some((key) => RECORD_KEYS.has(key) && key !== 'message')) {
    return { kind: 'record', record: toRecord(fields, 'the connection request', jsonEmails(json, 'the connection request')) };
  }
  // SwiftyConcur treats a top-level {"Message": …} as an error too.
  if (fields.has('message')) return errorFrom(fields);
  const keys = Object.keys(json).slice(0, 10).join(', ');
  throw bad(`JSON body is neither a page, a connection request nor an error (keys: ${keys || 'none'})`);
}

function jsonRecords(items: unknown[]): ConcurRecord[] {
  return items.map((item, i) => {
    if (!isObject(item)) throw bad(`item ${i + 1} is not a JSON object`);
    return toRecord(jsonFields(item), `item ${i + 1}`, jsonEmails(item, `item ${i + 1}`));
  });
}

