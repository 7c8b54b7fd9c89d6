import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { REPLY_CODES, type ReplyCode } from '../../../shared/status.js';

/**
 * Reads the status out of a PUT body, as Concur accepts it:
 * - XML `<ConnectionRequest><Status>CRSUC</Status></ConnectionRequest>`: just the status, or the
 *   seed's full object (ID, URI, names, `xsi:nil`…), with or without namespace prefixes, and
 *   `<status>` as v3.2 spells it;
 * - JSON `{"Status": "CRSUC"}` or `{"status": "CRSUC"}` (v3.2).
 * A DOCTYPE is refused outright (no entity expansion, no external entities).
 */

export const MAX_PUT_BODY_BYTES = 64 * 1024;

export type PutBody =
  | { ok: true; status: ReplyCode; raw: string; message: string | null }
  | { ok: false; raw: string | null; message: string };

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
});

const INVALID_STATUS = (raw: string) =>
  `The status '${raw}' is not valid in a PUT. Send one of: ${REPLY_CODES.join(', ')}.`;

function findKey(object: Record<string, unknown>, name: string): unknown {
  const key = Object.keys(object).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : object[key];
}

function asText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return null;
}

function readStatus(raw: string | null, message: string | null): PutBody {
  if (raw === null || raw.trim() === '') return { ok: false, raw, message: 'The request body has no Status.' };
  const wanted = raw.trim().toLowerCase();
  const status = REPLY_CODES.find((code) => code.toLowerCase() === wanted);
  if (!status) return { ok: false, raw, message: INVALID_STATUS(raw) };
  return { ok: true, status, raw, message };
}

function looksLikeJson(text: string, type: string): boolean {
  if (type.includes('json')) return true;
  if (type.includes('xml')) return false;
  return text.trimStart().startsWith('{');
}

export function parsePutBody(text: string, contentType = ''): PutBody {
  if (Buffer.byteLength(text) > MAX_PUT_BODY_BYTES) {
    return { ok: false, raw: null, message: `The request body is larger than ${MAX_PUT_BODY_BYTES} bytes.` };
  }
  if (text.trim() === '') return { ok: false, raw: null, message: 'The request body is empty.' };
  const type = contentType.toLowerCase();

  if (looksLikeJson(text, type)) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { ok: false, raw: null, message: 'The request body is not valid JSON.' };
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return { ok: false, raw: null, message: 'The request body must be a JSON object with a Status.' };
    }
    const record = body as Record<string, unknown>;
    return readStatus(asText(findKey(record, 'status')), asText(findKey(record, 'message')));
  }

  if (/<!DOCTYPE/i.test(text)) return { ok: false, raw: null, message: 'DTDs are not allowed in the request body.' };
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    return { ok: false, raw: null, message: `There is an error in XML document (${valid.err.line}, ${valid.err.col}).` };
  }
  let document: unknown;
  try {
    document = parser.parse(text);
  } catch {
    return { ok: false, raw: null, message: 'There is an error in the XML document.' };
  }
  const root =
    typeof document === 'object' && document !== null ? findKey(document as Record<string, unknown>, 'connectionrequest') : undefined;
  if (root === undefined) {
    return { ok: false, raw: null, message: 'The request body must be a <ConnectionRequest> element.' };
  }
  if (typeof root !== 'object' || root === null) return readStatus(null, null);
  const element = root as Record<string, unknown>;
  return readStatus(asText(findKey(element, 'status')), asText(findKey(element, 'message')));
}
