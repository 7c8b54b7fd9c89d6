import { describe, expect, it } from 'vitest';
import { REPLY_CODES } from '../../../shared/status.js';
import { decodeBody, decodePage, decodeRecord } from '../../../relay/concur/decode.js';
import { fromConcurTime } from '../../../relay/concur/time.js';
import { encodeStatusUpdate } from '../../../relay/concur/encode.js';
import { ConcurError } from '../../../relay/concur/errors.js';
import { createSandbox } from '../../../relay/sandbox/app.js';
import { ManualClock } from '../../../relay/sandbox/clock.js';
import {
  type ConcurFormat,
  type ConcurVersion,
  type StatusCase,
  type WireRecord,
  writeError,
  writePage,
  writeRecord,
} from '../../../relay/sandbox/format/index.js';
import { parsePutBody } from '../../../relay/sandbox/format/put-body.js';
import { asRelayReads } from '../../helpers/concur.js';

/**
 * The relay's codec against the sandbox's, which share no code: whatever the sandbox writes, in
 * every shape, version and format, the relay reads back as the same requests; whatever the relay
 * PUTs, the sandbox accepts. A bug on either side shows here as a difference.
 */

const NEXT_PAGE = 'https://www.concursolutions.com/api/v3.0/common/connectionrequests?offset=nQ4hRgi9Q9uLj32rQWtgN3Mw&limit=2&status=Pending';

/** The seed's traveller: text, an empty element, a nil one. */
const MARIA: WireRecord = {
  id: 'nVkXk0j3Yzk4LosUofRwPOvndJDo',
  uri: 'https://www.concursolutions.com/api/v3.0/common/connectionrequests/nVkXk0j3Yzk4LosUofRwPOvndJDo',
  firstName: 'Maria',
  middleName: '',
  lastName: 'Smith',
  loyaltyNumber: '23242526',
  discountCode: null,
  status: 'Pending',
  requestToken: 'EPCYxQ1NRMTstK61XmbdZp7effas271',
  message: '',
  lastModified: Date.UTC(2014, 3, 29, 23, 19, 3),
  userId: '71ff9cf8-0593-4620-ba6c-145509164ba0',
  emailAddresses: ['maria.smith@example.com', 'm.smith+travel@example.org'],
};

/** Every field nil but those a request cannot do without, and the characters each format escapes. */
const AWKWARD: WireRecord = {
  id: 'CR-<&>"\'-2',
  uri: null,
  firstName: ' Zoë & <Renée> ',
  middleName: null,
  lastName: "D'Amico\r\nÓ Briain\t😀",
  loyaltyNumber: '007',
  discountCode: 'CORP]]>2024',
  status: 'CRRET',
  requestToken: null,
  message: '"quoted" &amp; literal',
  lastModified: null,
  userId: null,
  emailAddresses: [],
};

const PLAIN: WireRecord = { ...MARIA, id: 'a1', status: 'Processing', firstName: 'Łukasz', lastName: 'Żółć', lastModified: Date.UTC(1999, 11, 31, 23, 59, 59) };

const VERSIONS: ConcurVersion[] = ['3.0', '3.2'];
const FORMATS: ConcurFormat[] = ['xml', 'json'];
const CASES: StatusCase[] = ['as-is', 'lower', 'upper'];
const SHAPES = VERSIONS.flatMap((version) => FORMATS.flatMap((format) => CASES.map((statusCase) => ({ version, format, statusCase }))));
const CONTENT_TYPE: Record<ConcurFormat, string> = { xml: 'application/xml; charset=utf-8', json: 'application/json; charset=utf-8' };

describe.each(SHAPES)('the relay reads what the sandbox writes: v$version $format, status $statusCase', ({ version, format, statusCase }) => {
  const options = { version, format, statusCase };
  const read = (records: WireRecord[]) => records.map((record) => asRelayReads(record, version));

  it('a page with NextPage', () => {
    const records = [MARIA, AWKWARD, PLAIN];
    expect(decodePage(writePage(records, NEXT_PAGE, options), CONTENT_TYPE[format], { pageLimit: 3 })).toEqual({
      items: read(records),
      nextPage: NEXT_PAGE,
    });
  });

  it('the last page, without NextPage', () => {
    expect(decodePage(writePage([AWKWARD], null, options), CONTENT_TYPE[format])).toEqual({ items: read([AWKWARD]), nextPage: null });
  });

  it('an empty page', () => {
    expect(decodePage(writePage([], null, options), CONTENT_TYPE[format])).toEqual({ items: [], nextPage: null });
    // Even where the seed's bare roots were asked for: an empty body would be no XML at all.
    expect(decodePage(writePage([], null, { ...options, bareRoot: true }), CONTENT_TYPE[format])).toEqual({ items: [], nextPage: null });
  });

  it('one request, as GET by id answers it', () => {
    for (const record of [MARIA, AWKWARD, PLAIN]) {
      expect(decodeRecord(writeRecord(record, options), CONTENT_TYPE[format], { pageLimit: 1 })).toEqual(asRelayReads(record, version));
    }
  });
});

describe.each(SHAPES.filter(({ format }) => format === 'xml'))('the relay reads the seed’s bare roots: v$version, status $statusCase', ({ version, statusCase }) => {
  it('one <ConnectionRequest> root, and several one after another (with nowhere to put NextPage)', () => {
    const bare = { version, statusCase, bareRoot: true };
    const read = (records: WireRecord[]) => records.map((record) => asRelayReads(record, version));
    expect(decodePage(writePage([MARIA], NEXT_PAGE, bare), CONTENT_TYPE.xml)).toEqual({ items: read([MARIA]), nextPage: null });
    expect(decodePage(writePage([MARIA, AWKWARD, PLAIN], NEXT_PAGE, bare), null)).toEqual({ items: read([MARIA, AWKWARD, PLAIN]), nextPage: null });
  });
});

describe.each(FORMATS)('the relay reads the sandbox’s error bodies (%s)', (format) => {
  const error = { message: 'Forbidden. Please check your Instance URL & OAuth <token>.', id: '56054F41-7AB1-4F2E-9B73-2C6E5A8D1F00', serverTime: Date.UTC(2015, 2, 26, 17, 45, 54, 700) };

  it('as an error, with its message, Id and Server-Time', () => {
    const decoded = decodeBody(writeError(error, format), CONTENT_TYPE[format]);
    expect(decoded).toEqual({ kind: 'error', message: error.message, id: error.id, serverTime: '2015-03-26T17:45:54' });
    if (decoded.kind === 'error') expect(fromConcurTime(decoded.serverTime!)).toBe('2015-03-26T17:45:54.000Z');
  });

  it('as a failure where a page was expected, even with HTTP 200', () => {
    let caught: unknown;
    try {
      decodePage(writeError(error, format), CONTENT_TYPE[format]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConcurError);
    expect(caught).toMatchObject({ kind: 'concur_error', concurMessage: error.message, concurId: error.id });
  });
});

describe('the relay reads what the running sandbox serves', () => {
  const quirks = VERSIONS.flatMap((path) =>
    FORMATS.flatMap((format) => [false, true].map((bareRoot) => ({ path, format, bareRoot, version: null as ConcurVersion | null }))),
  ).concat([{ path: '3.0', format: 'json', bareRoot: false, version: '3.2' }, { path: '3.2', format: 'xml', bareRoot: false, version: '3.0' }]);

  it.each(quirks)('list and GET by id on v$path, $format, bareRoot $bareRoot, version quirk $version', async ({ path, format, bareRoot, version }) => {
    const sb = createSandbox({ clock: new ManualClock(Date.UTC(2024, 4, 1, 12)), random: 11, seed: 4 });
    Object.assign(sb.quirks, { bareRoot, version, statusCase: 'upper' });
    const written = version ?? path;
    const headers = { Authorization: `OAuth ${sb.credentials.accessToken}`, Accept: format === 'json' ? 'application/json' : 'application/xml' };
    const base = `https://www.concursolutions.com/api/v${path}/common/connectionrequests`;
    const expected = sb.state.all().map((request) => ({
      id: request.id,
      uri: `${base}/${request.id}`,
      firstName: request.firstName,
      middleName: request.middleName,
      lastName: request.lastName,
      loyaltyNumber: request.loyaltyNumber,
      discountCode: written === '3.2' ? null : request.discountCode,
      status: request.status,
      requestToken: request.requestToken,
      message: written === '3.2' ? null : request.message,
      lastModified: new Date(Math.floor(request.lastModified / 1000) * 1000).toISOString(),
      userId: written === '3.2' ? request.userId : null,
      emailAddresses: written === '3.2' ? [...request.emailAddresses] : [],
    }));

    const res = await sb.app.request(`${base}?limit=3`, { headers });
    const page = decodePage(await res.text(), res.headers.get('content-type'), { pageLimit: 3 });
    expect(page.items).toEqual(expected.slice(0, 3));
    expect(page.nextPage === null).toBe(bareRoot && format === 'xml');
    const one = await sb.app.request(`${base}/${expected[3]!.id}`, { headers });
    expect(decodeRecord(await one.text(), one.headers.get('content-type'))).toEqual(expected[3]);
    sb.close();
  });
});

describe('the sandbox accepts what the relay PUTs', () => {
  it.each(REPLY_CODES)('encodeStatusUpdate(%s) reads as that reply', (code) => {
    expect(parsePutBody(encodeStatusUpdate(code), 'application/xml; charset=utf-8')).toEqual({ ok: true, status: code, raw: code, message: null });
    // The body alone says what it is, whatever the header claims.
    expect(parsePutBody(encodeStatusUpdate(code))).toMatchObject({ ok: true, status: code });
  });

  it.each([
    ['CRSUC', 'Connected'],
    ['CREU2', 'Failed'],
    ['CRRET', 'Pending'],
  ] as const)('a PUT of encodeStatusUpdate(%s) gets 204 and moves the request to %s', async (code, status) => {
    const sb = createSandbox({ clock: new ManualClock(Date.UTC(2024, 4, 1, 12)), random: 3, seed: 1 });
    const [request] = sb.state.all();
    const res = await sb.app.request(`https://www.concursolutions.com/api/v3.0/common/connectionrequests/${request!.id}`, {
      method: 'PUT',
      headers: { Authorization: `OAuth ${sb.credentials.accessToken}`, 'Content-Type': 'application/xml; charset=utf-8' },
      body: encodeStatusUpdate(code),
    });
    expect(res.status).toBe(204);
    expect(sb.state.get(request!.id)).toMatchObject({ status, lastReply: code, successfulPuts: 1 });
    sb.close();
  });
});
