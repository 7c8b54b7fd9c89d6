import type { ReplyCode } from '../../shared/status.js';
import type { ConcurRecord } from './record.js';

/**
 * Writes connection requests the way Concur does. The sandbox serves these bytes, and the codec's
 * property tests read them back, so every quirk the relay must survive can be produced on demand.
 */

export type ConcurVersion = '3.0' | '3.2';
export type ConcurFormat = 'xml' | 'json';

export interface EncodeOptions {
  format?: ConcurFormat;
  /** 3.0 writes PascalCase fields (the seed); 3.2 camelCase plus userId, with ID and URI kept upper-case. */
  version?: ConcurVersion;
  /** The seed's list examples: `<ConnectionRequest>` elements with no `<ConnectionRequests><Items>` wrapper. */
  bareRoot?: boolean;
  /** The seed writes `pending`; Swagger's default is `PENDING`. */
  statusCase?: 'as-is' | 'lower' | 'upper';
}

const XMLNS =
  'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"';

/** Field order as in the seed's examples (not the alphabetical data model). */
const FIELDS_30 = [
  ['ID', 'id'],
  ['URI', 'uri'],
  ['FirstName', 'firstName'],
  ['MiddleName', 'middleName'],
  ['LastName', 'lastName'],
  ['LoyaltyNumber', 'loyaltyNumber'],
  ['Status', 'status'],
  ['DiscountCode', 'discountCode'],
  ['RequestToken', 'requestToken'],
  ['Message', 'message'],
  ['LastModified', 'lastModified'],
] as const satisfies ReadonlyArray<readonly [string, keyof ConcurRecord]>;

const FIELDS_32 = [
  ['ID', 'id'],
  ['URI', 'uri'],
  ['firstName', 'firstName'],
  ['middleName', 'middleName'],
  ['lastName', 'lastName'],
  ['loyaltyNumber', 'loyaltyNumber'],
  ['status', 'status'],
  ['discountCode', 'discountCode'],
  ['requestToken', 'requestToken'],
  ['message', 'message'],
  ['lastModified', 'lastModified'],
  ['userId', 'userId'],
] as const satisfies ReadonlyArray<readonly [string, keyof ConcurRecord]>;

export function escapeXml(text: string): string {
  // \r is escaped because XML parsers normalise a literal CR to LF; tabs and newlines survive as-is.
  return text.replace(/[&<>"\r]/g, (ch) =>
    ch === '&' ? '&amp;' : ch === '<' ? '&lt;' : ch === '>' ? '&gt;' : ch === '"' ? '&quot;' : '&#13;',
  );
}

/** Concur's time stamps carry no zone and no fraction: `2014-04-29T23:19:03`. */
export function toConcurTime(iso: string): string {
  return new Date(iso).toISOString().slice(0, 19);
}

function fieldValue(record: ConcurRecord, key: keyof ConcurRecord, options: EncodeOptions): string | null {
  const value = record[key];
  if (value === null) return null;
  if (key === 'lastModified') return toConcurTime(value);
  if (key === 'status') {
    if (options.statusCase === 'lower') return value.toLowerCase();
    if (options.statusCase === 'upper') return value.toUpperCase();
  }
  return value;
}

function fieldsFor(options: EncodeOptions) {
  return options.version === '3.2' ? FIELDS_32 : FIELDS_30;
}

function recordXml(record: ConcurRecord, options: EncodeOptions, rootAttrs: string): string {
  const parts = fieldsFor(options).map(([name, key]) => {
    const value = fieldValue(record, key, options);
    if (value === null) return `<${name} xsi:nil="true" />`;
    if (value === '') return `<${name} />`;
    return `<${name}>${escapeXml(value)}</${name}>`;
  });
  return `<ConnectionRequest${rootAttrs}>${parts.join('')}</ConnectionRequest>`;
}

function recordJson(record: ConcurRecord, options: EncodeOptions): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [name, key] of fieldsFor(options)) out[name] = fieldValue(record, key, options);
  return out;
}

/** One connection request, as GET by id answers: a bare `<ConnectionRequest>` root or a bare JSON object. */
export function encodeRecord(record: ConcurRecord, options: EncodeOptions = {}): string {
  if (options.format === 'json') return JSON.stringify(recordJson(record, options));
  return `<?xml version="1.0" encoding="utf-8"?>${recordXml(record, options, ` ${XMLNS}`)}`;
}

/** A page of the list, with Concur's absolute NextPage URL (or none at the end). */
export function encodePage(records: ConcurRecord[], nextPage: string | null, options: EncodeOptions = {}): string {
  if (options.format === 'json') {
    return JSON.stringify({ Items: records.map((r) => recordJson(r, options)), NextPage: nextPage });
  }
  // With nothing to list there is no bare root to write, and an empty body is not XML: fall back to the wrapper.
  if (options.bareRoot && records.length > 0) {
    // What the seed's list examples show. Not well-formed with more than one item, and yet that is the sample.
    return records.map((r) => recordXml(r, options, ` ${XMLNS}`)).join('\n');
  }
  const items = records.map((r) => recordXml(r, options, '')).join('');
  const next = nextPage === null ? '' : `<NextPage>${escapeXml(nextPage)}</NextPage>`;
  return `<?xml version="1.0" encoding="utf-8"?><ConnectionRequests ${XMLNS}><Items>${items}</Items>${next}</ConnectionRequests>`;
}

export interface ConcurErrorBody {
  message: string;
  id: string;
  /** Concur's server time, no zone. */
  serverTime: string;
}

/** Concur's v3 error element, `Error{Message, Server-Time, Id}`, in either format. */
export function encodeError(error: ConcurErrorBody, format: ConcurFormat = 'xml'): string {
  if (format === 'json') {
    return JSON.stringify({ Error: { Message: error.message, 'Server-Time': error.serverTime, Id: error.id } });
  }
  return (
    `<?xml version="1.0" encoding="utf-8"?><Error><Message>${escapeXml(error.message)}</Message>` +
    `<Server-Time>${escapeXml(error.serverTime)}</Server-Time><Id>${escapeXml(error.id)}</Id></Error>`
  );
}

/** The PUT body: Swagger says only the fields sent are updated, so Status alone is enough. */
export function encodeStatusUpdate(status: ReplyCode, format: ConcurFormat = 'xml'): string {
  if (format === 'json') return JSON.stringify({ Status: status });
  return `<?xml version="1.0" encoding="utf-8"?><ConnectionRequest ${XMLNS}><Status>${status}</Status></ConnectionRequest>`;
}
