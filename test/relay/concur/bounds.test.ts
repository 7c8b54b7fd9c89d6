import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_TEXT_RUN, bodyBudget } from '../../../relay/concur/bounds.js';
import { decodePage, decodeRecord } from '../../../relay/concur/decode.js';
import { ConcurError } from '../../../relay/concur/errors.js';
import { EMAIL_MAX_LENGTH, FIELD_MAX_LENGTH, MAX_EMAIL_ADDRESSES, type ConcurRecord } from '../../../relay/concur/record.js';
import { type WireRecord, writePage } from '../../../relay/sandbox/format/index.js';
import { asRelayReads } from '../../helpers/concur.js';
import { hostileBody } from '../../helpers/hostile-concur.js';

/**
 * What the codec accepts is bounded: each field by the record schema, and a body as a whole by a
 * linear scan before the parser (the parser's cost grows far faster than the body), so a hostile
 * body is refused before it allocates anything much.
 */

afterEach(() => {
  vi.restoreAllMocks();
});

function failure(run: () => unknown): ConcurError {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConcurError);
  expect((caught as ConcurError).kind).toBe('bad_response');
  return caught as ConcurError;
}

/** Spies on the parser and the well-formedness check: a refusal by the scan leaves both unused. */
function watchParser() {
  return { parse: vi.spyOn(XMLParser.prototype, 'parse'), validate: vi.spyOn(XMLValidator, 'validate') };
}

const xmlItem = (fields: Record<string, string>) =>
  `<ConnectionRequest>${Object.entries(fields)
    .map(([name, value]) => `<${name}>${value}</${name}>`)
    .join('')}</ConnectionRequest>`;
const xmlPage = (items: string[]) => `<ConnectionRequests><Items>${items.join('')}</Items></ConnectionRequests>`;

describe('field bounds (in the record schema)', () => {
  it.each(Object.entries(FIELD_MAX_LENGTH))('%s: %i characters are read, one more is refused with the field named', (field, max) => {
    const body = (length: number) => xmlItem({ id: 'cr-1', status: 'Pending', [field]: 'a'.repeat(length) });
    expect(decodeRecord(body(max), 'application/xml')[field as keyof ConcurRecord]).toHaveLength(max);
    const err = failure(() => decodeRecord(body(max + 1), 'application/xml'));
    expect(err.message).toMatch(new RegExp(`is invalid:[\\s\\S]*${field}`));
  });

  it('a page of twice the limit asked for, every field at its maximum, fits the body budget and is read', () => {
    // Names and the message with the characters XML escapes; the rest padded to the maximum.
    const full = (i: number): WireRecord => ({
      id: `${i}`.padEnd(FIELD_MAX_LENGTH.id, 'i'),
      uri: 'u'.repeat(FIELD_MAX_LENGTH.uri),
      firstName: 'Zoë & <Ł> '.repeat(8).padEnd(FIELD_MAX_LENGTH.firstName, 'x'),
      middleName: 'm'.repeat(FIELD_MAX_LENGTH.middleName),
      lastName: "O'Brien-D'Amico ".repeat(8).padEnd(FIELD_MAX_LENGTH.lastName, 'x'),
      loyaltyNumber: '9'.repeat(FIELD_MAX_LENGTH.loyaltyNumber),
      discountCode: 'd'.repeat(FIELD_MAX_LENGTH.discountCode),
      status: 'Pending',
      requestToken: 't'.repeat(FIELD_MAX_LENGTH.requestToken),
      message: '"quoted" & <marked> '.repeat(20).padEnd(FIELD_MAX_LENGTH.message, 'x'),
      lastModified: Date.UTC(2014, 3, 29, 23, 19, 3),
      userId: 'g'.repeat(FIELD_MAX_LENGTH.userId),
      emailAddresses: Array.from({ length: MAX_EMAIL_ADDRESSES }, (_, n) => `${n}@`.padEnd(EMAIL_MAX_LENGTH, 'e')),
    });
    const items = Array.from({ length: 20 }, (_, i) => full(i));
    for (const options of [{ version: '3.2' as const }, { format: 'json' as const, version: '3.2' as const }]) {
      // Written by the sandbox, whose code the relay's decoder does not share.
      const body = writePage(items, 'https://www.concursolutions.com/api/v3.0/common/connectionrequests?offset=x&limit=10', options);
      expect(Buffer.byteLength(body)).toBeLessThan(bodyBudget(10));
      expect(decodePage(body, null, { pageLimit: 10 }).items).toEqual(items.map((item) => asRelayReads(item, '3.2')));
    }
  });
});

describe('the scan before the parser', () => {
  it('reads a field whose every character is a reference', () => {
    const name = '&#233;'.repeat(FIELD_MAX_LENGTH.lastName);
    const body = xmlPage(Array.from({ length: 10 }, (_, i) => xmlItem({ ID: `cr-${i}`, Status: 'Pending', LastName: name })));
    expect(decodePage(body, null, { pageLimit: 10 }).items.map((r) => r.lastName)).toEqual(Array(10).fill('é'.repeat(256)));
  });

  it('refuses one 4 MB field, in XML and in JSON, before the parser sees it', () => {
    const spies = watchParser();
    expect(failure(() => decodePage(hostileBody('long-field'), 'application/xml')).message).toBe(
      `XML has more than ${MAX_TEXT_RUN} characters without markup in <LastName> (no field Concur sends is that long)`,
    );
    const json = JSON.stringify({ Items: [{ ID: 'a', Status: 'Pending', LastName: 'x'.repeat(4 * 1024 * 1024) }] });
    expect(failure(() => decodePage(json, 'application/json')).message).toBe(
      `JSON has a string of more than ${MAX_TEXT_RUN} characters (no field Concur sends is that long)`,
    );
    expect(spies.parse).not.toHaveBeenCalled();
    expect(spies.validate).not.toHaveBeenCalled();
  });

  it('refuses 200,000 entity references in one field before the parser sees it', () => {
    const spies = watchParser();
    expect(failure(() => decodePage(hostileBody('entity-refs'), null)).message).toMatch(/^XML has more than 8192 characters without markup in <LastName>/);
    expect(spies.parse).not.toHaveBeenCalled();
  });

  it('refuses a page with far more requests than the limit asked for: 15,000 for 10, and 21 (twice 10 is still read)', () => {
    const spies = watchParser();
    expect(failure(() => decodePage(hostileBody('many-items'), null, { pageLimit: 10 })).message).toBe(
      'more than 20 connection requests on one page; the relay asked for 10',
    );
    const page = (n: number) => xmlPage(Array.from({ length: n }, (_, i) => xmlItem({ ID: `cr-${i}`, Status: 'Pending' })));
    expect(failure(() => decodePage(page(21), null, { pageLimit: 10 })).message).toMatch(/^more than 20 connection requests/);
    expect(spies.parse).not.toHaveBeenCalled();
    expect(decodePage(page(20), null, { pageLimit: 10 }).items).toHaveLength(20);
    // In JSON the objects are counted; the exact count is checked once the page is read.
    const json = (n: number) => JSON.stringify({ Items: Array.from({ length: n }, (_, i) => ({ ID: `cr-${i}`, Status: 'Pending' })) });
    expect(failure(() => decodePage(json(15_000), null, { pageLimit: 10 })).message).toMatch(/^JSON has more than \d+ objects/);
    expect(failure(() => decodePage(json(21), null, { pageLimit: 10 })).message).toBe('21 connection requests on one page; the relay asked for 10');
    expect(decodePage(json(20), null, { pageLimit: 10 }).items).toHaveLength(20);
  });

  it('refuses 200,000 references spread over short fields, and thousands of elements, on a page of 10', () => {
    const spies = watchParser();
    expect(failure(() => decodePage(hostileBody('entity-refs-spread'), null, { pageLimit: 10 })).message).toMatch(
      /^XML has more than \d+ character or entity references, far more than 20 connection requests need$/,
    );
    const elements = xmlPage([xmlItem({ ID: 'a', Status: 'Pending' }).replace('</ConnectionRequest>', `${'<X/>'.repeat(5000)}</ConnectionRequest>`)]);
    expect(failure(() => decodePage(elements, null, { pageLimit: 10 })).message).toMatch(/^XML has more than \d+ tags, far more than 20 connection requests need$/);
    const keys = JSON.stringify({ Items: [Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, 1]))] });
    expect(failure(() => decodePage(keys, null, { pageLimit: 10 })).message).toMatch(/^JSON has more than \d+ members, far more than 20 connection requests need$/);
    expect(spies.parse).not.toHaveBeenCalled();
  });
});
