import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { STATUS_CODES } from '../../../shared/status.js';
import { DEFAULT_MAX_BODY_BYTES, decodeBody, decodePage, decodeRecord } from '../../../relay/concur/decode.js';
import { readXml } from '../../../relay/concur/xml-read.js';
import { fromConcurTime } from '../../../relay/concur/time.js';
import { ConcurError, type ConcurErrorKind } from '../../../relay/concur/errors.js';
import type { ConcurPage, ConcurRecord } from '../../../relay/concur/record.js';
import { type WireRecord, concurTime, writePage, writeRecord } from '../../../relay/sandbox/format/index.js';
import { BILLION_LAUGHS, asRelayReads, wholeSecond, wireRecordArb } from '../../helpers/concur.js';

function failure(run: () => unknown, kind: ConcurErrorKind = 'bad_response'): ConcurError {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConcurError);
  const err = caught as ConcurError;
  expect(err.kind).toBe(kind);
  // A readable reason, never a stack trace.
  expect(err.message).not.toMatch(/\n\s+at /);
  return err;
}

function record(overrides: Partial<ConcurRecord> = {}): ConcurRecord {
  return {
    id: 'cr-1',
    uri: null,
    firstName: null,
    middleName: null,
    lastName: null,
    loyaltyNumber: null,
    discountCode: null,
    status: 'Pending',
    requestToken: null,
    message: null,
    lastModified: null,
    userId: null,
    emailAddresses: [],
    ...overrides,
  };
}

/** A v3.0 record in the wrapper, with the given inner XML. */
function wrapped(inner: string, tail = ''): string {
  return `<ConnectionRequests xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Items><ConnectionRequest>${inner}</ConnectionRequest></Items>${tail}</ConnectionRequests>`;
}

function onlyItem(xmlInner: string): ConcurRecord {
  const page = decodePage(wrapped(`<ID>cr-1</ID><Status>Pending</Status>${xmlInner}`), 'application/xml');
  expect(page.items).toHaveLength(1);
  return page.items[0]!;
}

// ---- literal fixtures ----

// The seed's Example 1 response, verbatim (its code block's indentation included).
const SEED_EXAMPLE_1 = `    <ConnectionRequest xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
        <ID>nVkXk0j3Yzk4LosUofRwPOvndJDo</ID>
        <URI>https://www.concursolutions.com/api/v3.0/common/connectionrequests/nVkXk0j3Yzk4LosUofRwPOvndJDo</URI>
        <FirstName>Maria</FirstName>
        <MiddleName />
        <LastName>Smith</LastName>
        <LoyaltyNumber>23242526</LoyaltyNumber>
        <Status>pending</Status>
        <DiscountCode xsi:nil="true" />
        <RequestToken>EPCYxQ1NRMTstK61XmbdZp7effas271</RequestToken>
        <Message />
        <LastModified>2014-04-29T23:19:03</LastModified>
    </ConnectionRequest>
`;

const SEED_RECORD: ConcurRecord = {
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
  lastModified: '2014-04-29T23:19:03.000Z',
  userId: null,
  emailAddresses: [],
};

// The seed's Example 8 PUT body, verbatim: its URI starts with a space.
const SEED_EXAMPLE_8 = `    <ConnectionRequest xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
        <ID>nVkXk0j3Yzk4LosUofRwPOvndJDo</ID>
        <URI> https://www.concursolutions.com/api/v3.0/common/connectionrequests/nVkXk0j3Yzk4LosUofRwPOvndJDo</URI>
        <FirstName>Maria</FirstName>
        <MiddleName />
        <LastName>Smith</LastName>
        <LoyaltyNumber>23242526</LoyaltyNumber>
        <DiscountCode xsi:nil="true" />
        <Status>CREU1</Status>
        <RequestToken>EPCYxQ1NRMTstK61XmbdZp7effas271</RequestToken>
        <Message />
        <LastModified>2014-04-29T23:19:03</LastModified>
    </ConnectionRequest>
`;

// The current v3.2 page (SAP-docs/preview.developer.concur.com, connection-requests-resource.markdown), verbatim.
// NextPage carries a bare `&`, which is not well-formed XML; the relay reads it as meant.
const V32_XML_LIST = `<ConnectionRequests xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Items><ConnectionRequest><ID>444f5142-2e5a-4ab9-9aad-da916af6fcd7</ID><URI>https://us.concursolutions.com/api/v3.2/common/connectionrequests/44f5142-2e5a-4ab9-9aad-da916af6fcd7</URI><firstName>First</firstName><middleName xsi:nil="true" /><lastName>Last</lastName><loyaltyNumber>1234</loyaltyNumber><status>Pending</status><requestToken>token-string</requestToken><lastModified>2022-11-02T09:39:21</lastModified><emailAddresses><email1>example1@example.com</email1><email2>example2@example.com</email2><email3>example3@example.com</email3><email4 xsi:nil="true" /><email5 xsi:nil="true" /></emailAddresses><userId>b244a439-a082-4405-b0d7-2e61ebf9e29c</userId></ConnectionRequest><ConnectionRequest><ID>5d2804fb-111b-44a8-98bb-56e387875aed</ID><URI>https://us.concursolutions.com/api/v3.2/common/connectionrequests/5d2804fb-111b-44a8-98bb-56e387875aed</URI><firstName>First2</firstName><middleName xsi:nil="true" /><lastName>Last2</lastName><loyaltyNumber>4321</loyaltyNumber><status>Pending</status><requestToken>token-string</requestToken><lastModified>2022-11-09T05:57:29</lastModified><emailAddresses><email1>example@example.com</email1><email2 xsi:nil="true" /><email3 xsi:nil="true" /><email4 xsi:nil="true" /><email5 xsi:nil="true" /></emailAddresses><userId>eb3f9170-0fb8-47b4-9c4c-8fd19dfddb8f</userId></ConnectionRequest></Items><NextPage>https://us.concursolutions.com/api/v3.2/common/connectionrequests/?limit=2&offset=5d2804fb-111b-44a8-98bb-56e387875aed</NextPage></ConnectionRequests>`;

// The same v3.2 page's JSON example, in full.
const V32_JSON_LIST = `{"Items":[{"firstName":"FirstName","middleName":null,"lastName":"LastName","loyaltyNumber":"0123","status":"Pending","requestToken":"token-string","lastModified":"2022-11-09T05:57:29","emailAddresses":{"email1":null,"email2":null,"email3":null,"email4":null,"email5":null},"userId":"71ff9cf8-0593-4620-ba6c-145509164ba0","ID":"e8a3c057-bb9b-421e-85fb-06777bce54d3","URI":"https://integration.concursolutions.com/api/v3.2/common/connectionrequests/5c708334-fcea-4be6-baa5-3e4929e95f50"},{"firstName":"Example","middleName":null,"lastName":"Example","loyaltyNumber":"54321","status":"Pending","requestToken":"token-string","lastModified":"2022-11-09T05:57:29","emailAddresses":{"email1":null,"email2":null,"email3":null,"email4":null,"email5":null},"userId":"7dcd5a6e-1f26-49b3-a7a6-7374618ac519","ID":"3357c50d-2cac-4123-9f7e-9ad41166484e","URI":"https://integration.concursolutions.com/api/v3.2/common/connectionrequests/3357c50d-2cac-4123-9f7e-9ad41166484e"}],"NextPage":"https://integration.concursolutions.com/api/v3.2/common/connectionrequests/?limit=2&offset=3357c50d-2cac-4123-9f7e-9ad41166484e"}`;

const V32_XML_BY_ID = `<ConnectionRequest xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><ID>b65b5215-dd36-43d0-a178-39356630320e</ID><URI>https://us.concursolutions.com/api/v3.2/common/connectionrequests/b65b5215-dd36-43d0-a178-39356630320e</URI><firstName>First</firstName><middleName xsi:nil="true" /><lastName>Last</lastName><loyaltyNumber>1234</loyaltyNumber><status>Pending</status><requestToken>token-string</requestToken><lastModified>2022-11-17T09:00:25</lastModified><emailAddresses><email1>example@example.com</email1><email2 xsi:nil="true" /><email3 xsi:nil="true" /><email4 xsi:nil="true" /><email5 xsi:nil="true" /></emailAddresses><userId>4c816ce0-ea35-4664-8937-0c2952dfc742</userId></ConnectionRequest>`;

const V32_JSON_BY_ID = `{"firstName":"First","middleName":null,"lastName":"Last","loyaltyNumber":"1234","status":"Pending","requestToken":"token-string","lastModified":"2022-11-17T09:00:25","emailAddresses":{"email1":"example@example.com","email2":null,"email3":null,"email4":null,"email5":null},"userId":"4c816ce0-ea35-4664-8937-0c2952dfc742","ID":"b65b5215-dd36-43d0-a178-39356630320e","URI":"https://us.concursolutions.com/api/v3.2/common/connectionrequests/b65b5215-dd36-43d0-a178-39356630320e"}`;

const V32_BY_ID_RECORD: ConcurRecord = {
  id: 'b65b5215-dd36-43d0-a178-39356630320e',
  uri: 'https://us.concursolutions.com/api/v3.2/common/connectionrequests/b65b5215-dd36-43d0-a178-39356630320e',
  firstName: 'First',
  middleName: null,
  lastName: 'Last',
  loyaltyNumber: '1234',
  discountCode: null,
  status: 'Pending',
  requestToken: 'token-string',
  message: null,
  lastModified: '2022-11-17T09:00:25.000Z',
  userId: '4c816ce0-ea35-4664-8937-0c2952dfc742',
  emailAddresses: ['example@example.com'],
};

// SAP Concur's HTTP status code page (developer.concur.com, http-status-codes), as quoted there.
const ERROR_XML = `<Error><Message>There is an error in XML document (1, 147).</Message><Server-Time>2017-06-22T16:51:37</Server-Time><Id>3BDBC49E-…</Id></Error>`;
const ERROR_JSON = `{"Error":{"Message":"Forbidden Request","Server-Time":"2019-03-12T07:56:32","Id":"65F6…"}}`;
// concur/concur-platform-sdk-js test/connectionRequests.js, verbatim.
const ERROR_JSON_403 = `{"Error":{"Message":"Forbidden. Please check your Instance URL and OAuth token.","Server-Time":"2015-03-26T17:45:54","Id":"56054F41-53DC-404C-837D-258538F277F1"}}`;


describe('the seed and Concur documentation, verbatim', () => {
  it("reads the seed's Example 1 (a bare <ConnectionRequest> root) as a page of one", () => {
    expect(decodePage(SEED_EXAMPLE_1, 'application/xml')).toEqual({ items: [SEED_RECORD], nextPage: null });
    expect(decodeRecord(SEED_EXAMPLE_1, null)).toEqual(SEED_RECORD);
    expect(decodeBody(SEED_EXAMPLE_1, null)).toEqual({ kind: 'record', record: SEED_RECORD });
  });

  it('reads several bare roots one after another as one page', () => {
    const page = decodePage(SEED_EXAMPLE_1 + SEED_EXAMPLE_8 + SEED_EXAMPLE_1, 'application/xml');
    expect(page.nextPage).toBeNull();
    expect(page.items.map((r) => r.status)).toEqual(['Pending', 'CREU1', 'Pending']);
  });

  it('keeps the space that starts the URI in Example 8', () => {
    expect(decodeRecord(SEED_EXAMPLE_8, null).uri).toBe(
      ' https://www.concursolutions.com/api/v3.0/common/connectionrequests/nVkXk0j3Yzk4LosUofRwPOvndJDo',
    );
  });

  it('reads the v3.2 XML page, its bare `&` in NextPage included, e-mail addresses without their nil slots', () => {
    const page = decodePage(V32_XML_LIST, 'application/xml; charset=utf-8');
    expect(page.nextPage).toBe(
      'https://us.concursolutions.com/api/v3.2/common/connectionrequests/?limit=2&offset=5d2804fb-111b-44a8-98bb-56e387875aed',
    );
    expect(page.items).toHaveLength(2);
    expect(page.items[0]).toEqual({
      id: '444f5142-2e5a-4ab9-9aad-da916af6fcd7',
      uri: 'https://us.concursolutions.com/api/v3.2/common/connectionrequests/44f5142-2e5a-4ab9-9aad-da916af6fcd7',
      firstName: 'First',
      middleName: null,
      lastName: 'Last',
      loyaltyNumber: '1234',
      discountCode: null,
      status: 'Pending',
      requestToken: 'token-string',
      message: null,
      lastModified: '2022-11-02T09:39:21.000Z',
      userId: 'b244a439-a082-4405-b0d7-2e61ebf9e29c',
      emailAddresses: ['example1@example.com', 'example2@example.com', 'example3@example.com'],
    });
    expect(page.items[1]!.emailAddresses).toEqual(['example@example.com']);
  });

  it('reads the v3.2 JSON page (notes §1b)', () => {
    const page = decodePage(V32_JSON_LIST, 'application/json');
    expect(page.nextPage).toBe(
      'https://integration.concursolutions.com/api/v3.2/common/connectionrequests/?limit=2&offset=3357c50d-2cac-4123-9f7e-9ad41166484e',
    );
    expect(page.items.map((r) => [r.id, r.loyaltyNumber, r.middleName, r.userId, r.lastModified])).toEqual([
      ['e8a3c057-bb9b-421e-85fb-06777bce54d3', '0123', null, '71ff9cf8-0593-4620-ba6c-145509164ba0', '2022-11-09T05:57:29.000Z'],
      ['3357c50d-2cac-4123-9f7e-9ad41166484e', '54321', null, '7dcd5a6e-1f26-49b3-a7a6-7374618ac519', '2022-11-09T05:57:29.000Z'],
    ]);
    // Five null slots are no addresses.
    expect(page.items.map((r) => r.emailAddresses)).toEqual([[], []]);
  });

  it('reads e-mail addresses in slot order, v3.1’s PascalCase too, and skips nil and empty slots', () => {
    const json = `{"ID":"a","status":"Pending","emailAddresses":{"email3":"c@x","email1":"a@x","email2":"","email4":null,"note":"not an address"}}`;
    expect(decodeRecord(json, 'application/json').emailAddresses).toEqual(['a@x', 'c@x']);
    const v31 = wrapped('<ID>a</ID><Status>Pending</Status><EmailAddresses><Email1>a@x</Email1><Email2 xsi:nil="true" /><Email3 /><Email4>d@x</Email4></EmailAddresses>');
    expect(decodePage(v31, 'application/xml').items[0]!.emailAddresses).toEqual(['a@x', 'd@x']);
    // No emailAddresses at all (3.0), or a nil one: none.
    expect(decodeRecord(`{"ID":"a","Status":"Pending","emailAddresses":null}`, null).emailAddresses).toEqual([]);
    expect(decodePage(wrapped('<ID>a</ID><Status>Pending</Status><emailAddresses xsi:nil="true" />'), null).items[0]!.emailAddresses).toEqual([]);
  });

  it('refuses e-mail addresses it cannot show: not text, six of them, or one longer than an address can be', () => {
    expect(failure(() => decodeRecord(`{"ID":"a","status":"Pending","emailAddresses":{"email1":42}}`, null)).message).toBe(
      'the connection request has an e-mail address that is not text (email1)',
    );
    const six = Object.fromEntries([1, 2, 3, 4, 5, 6].map((n) => [`email${n}`, `${n}@x`]));
    expect(failure(() => decodeRecord(JSON.stringify({ ID: 'a', status: 'Pending', emailAddresses: six }), null)).message).toMatch(
      /connection request a is invalid:[\s\S]*emailAddresses/,
    );
    const long = { email1: `${'a'.repeat(250)}@x.org` };
    expect(failure(() => decodeRecord(JSON.stringify({ ID: 'a', status: 'Pending', emailAddresses: long }), null)).message).toMatch(
      /connection request a is invalid:[\s\S]*emailAddresses/,
    );
  });

  it('reads the v3.2 GET-by-id answers, XML and JSON, to the same record', () => {
    expect(decodeRecord(V32_XML_BY_ID, 'application/xml')).toEqual(V32_BY_ID_RECORD);
    expect(decodeRecord(V32_JSON_BY_ID, 'application/json')).toEqual(V32_BY_ID_RECORD);
  });

  it('reads the error bodies of notes §4, also when they come with HTTP 200', () => {
    expect(decodeBody(ERROR_XML, 'application/xml')).toEqual({
      kind: 'error',
      message: 'There is an error in XML document (1, 147).',
      id: '3BDBC49E-…',
      serverTime: '2017-06-22T16:51:37',
    });
    expect(decodeBody(ERROR_JSON, 'application/json')).toEqual({
      kind: 'error',
      message: 'Forbidden Request',
      id: '65F6…',
      serverTime: '2019-03-12T07:56:32',
    });
    const err = failure(() => decodePage(ERROR_JSON_403, 'application/json'), 'concur_error');
    expect(err.concurMessage).toBe('Forbidden. Please check your Instance URL and OAuth token.');
    expect(err.concurId).toBe('56054F41-53DC-404C-837D-258538F277F1');
    expect(err.message).toMatch(/Forbidden\. Please check/);
    expect(failure(() => decodeRecord(ERROR_XML, null), 'concur_error').concurId).toBe('3BDBC49E-…');
  });
});

describe('the <ConnectionRequests><Items> wrapper', () => {
  const item = (id: string) => `<ConnectionRequest><ID>${id}</ID><Status>Pending</Status></ConnectionRequest>`;

  it.each([
    ['<Items />', []],
    ['<Items></Items>', []],
    ['', []],
    [`<Items>${item('a')}</Items>`, ['a']],
    [`<Items>${item('a')}${item('b')}${item('c')}</Items>`, ['a', 'b', 'c']],
  ])('reads %j', (items, ids) => {
    const page = decodePage(`<ConnectionRequests>${items}</ConnectionRequests>`, 'application/xml');
    expect(page).toEqual({ items: ids.map((id) => record({ id })), nextPage: null });
  });

  it('reads an empty self-closed wrapper', () => {
    expect(decodePage('<ConnectionRequests />', null)).toEqual({ items: [], nextPage: null });
  });

  it.each([
    ['absent', '', null],
    ['empty', '<NextPage />', null],
    ['an empty pair', '<NextPage></NextPage>', null],
    ['blank', '<NextPage>  </NextPage>', null],
    ['nil', '<NextPage xsi:nil="true" />', null],
    ['a URL', '<NextPage>https://x.example/cr?offset=Zm9v&amp;limit=10</NextPage>', 'https://x.example/cr?offset=Zm9v&limit=10'],
    ['spelled Nextpage', '<Nextpage>https://x.example/2</Nextpage>', 'https://x.example/2'],
    ['pretty-printed', '<NextPage>\n  https://x.example/2\n</NextPage>', 'https://x.example/2'],
  ])('reads NextPage %s', (_case, tail, nextPage) => {
    expect(decodePage(wrapped('<ID>a</ID><Status>Pending</Status>', tail), null).nextPage).toBe(nextPage);
  });

  it('reads element names in any case and with namespace prefixes', () => {
    const body = `<cr:CONNECTIONREQUESTS xmlns:cr="urn:concur" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><cr:items><cr:connectionRequest><cr:Id>a</cr:Id><cr:STATUS>crsuc</cr:STATUS><cr:middlename i:nil="true"/><cr:FIRSTNAME>Zoë</cr:FIRSTNAME></cr:connectionRequest></cr:items><cr:nextPAGE>n</cr:nextPAGE></cr:CONNECTIONREQUESTS>`;
    expect(decodePage(body, null)).toEqual({
      items: [record({ id: 'a', status: 'CRSUC', firstName: 'Zoë' })],
      nextPage: 'n',
    });
  });

  it('reads an XML declaration, a byte-order mark, comments and pretty-printing', () => {
    const body = `\uFEFF<?xml version="1.0" encoding="utf-8"?>\n<!-- page 1 -->\n<ConnectionRequests>\n  <Items>\n    <ConnectionRequest>\n      <ID>a</ID>\n      <Status>Pending</Status>\n    </ConnectionRequest>\n  </Items>\n</ConnectionRequests>\n`;
    expect(decodePage(body, 'application/xml').items).toEqual([record({ id: 'a' })]);
  });

  it('refuses a root it does not know, naming it', () => {
    const err = failure(() => decodePage('<html><body>Service Unavailable</body></html>', 'text/html'));
    expect(err.message).toMatch(/unexpected XML root <html>/);
  });
});

describe('fields', () => {
  it('tells xsi:nil (null) from an empty element ("") and an absent one (null)', () => {
    expect(onlyItem('<MiddleName />')).toMatchObject({ middleName: '' });
    expect(onlyItem('<MiddleName></MiddleName>')).toMatchObject({ middleName: '' });
    expect(onlyItem('<MiddleName xsi:nil="true" />')).toMatchObject({ middleName: null });
    expect(onlyItem('<MiddleName xsi:nil="true"></MiddleName>')).toMatchObject({ middleName: null });
    expect(onlyItem('')).toMatchObject({ middleName: null });
  });

  it.each(['pending', 'PENDING', 'Pending', ' pending\n'])('normalises status %j to Pending', (status) => {
    expect(decodeRecord(`<ConnectionRequest><ID>a</ID><Status>${status}</Status></ConnectionRequest>`, null).status).toBe('Pending');
  });

  it.each(STATUS_CODES.flatMap((code) => [code, code.toLowerCase(), code.toUpperCase()]))('reads status %s', (status) => {
    const decoded = decodeRecord(JSON.stringify({ ID: 'a', Status: status }), 'application/json');
    expect(decoded.status.toLowerCase()).toBe(status.toLowerCase());
    expect(STATUS_CODES).toContain(decoded.status);
  });

  it('refuses an unknown status, naming it and the valid ones', () => {
    const err = failure(() => decodeRecord('<ConnectionRequest><ID>a</ID><Status>Linked</Status></ConnectionRequest>', null));
    expect(err.message).toMatch(/connection request a has an unknown status "Linked"/);
    expect(err.message).toMatch(/Pending, Processing, CRRET, CRSUC, Connected, CREU1, CREU2, CREU3, CRPA1, CRPA2, Failed/);
  });

  it('refuses a record without a status', () => {
    expect(failure(() => decodeRecord('<ConnectionRequest><ID>a</ID></ConnectionRequest>', null)).message).toMatch(/a has no status/);
  });

  it.each([
    ['no ID element', '<Status>Pending</Status>'],
    ['an empty ID', '<ID /><Status>Pending</Status>'],
    ['a nil ID', '<ID xsi:nil="true" /><Status>Pending</Status>'],
    ['a blank ID', '<ID>  </ID><Status>Pending</Status>'],
  ])('refuses a record with %s', (_case, inner) => {
    expect(failure(() => decodePage(wrapped(inner), null)).message).toBe('item 1 has no ID');
  });

  it('reads PascalCase v3.0 and camelCase v3.2 names alike, and ignores unknown elements', () => {
    const pascal = `<ConnectionRequest><ID>a</ID><URI>u</URI><FirstName>f</FirstName><MiddleName>m</MiddleName><LastName>l</LastName><LoyaltyNumber>00123456</LoyaltyNumber><DiscountCode>d</DiscountCode><Status>Pending</Status><RequestToken>t</RequestToken><Message>x</Message><LastModified>2014-04-29T23:19:03</LastModified><Extra>ignored</Extra><Nested><A>1</A></Nested></ConnectionRequest>`;
    const camel = `<ConnectionRequest><ID>a</ID><URI>u</URI><firstName>f</firstName><middleName>m</middleName><lastName>l</lastName><loyaltyNumber>00123456</loyaltyNumber><discountCode>d</discountCode><status>Pending</status><requestToken>t</requestToken><message>x</message><lastModified>2014-04-29T23:19:03</lastModified><userId xsi:nil="true" /><emailAddresses><email1>e@x</email1></emailAddresses></ConnectionRequest>`;
    const expected = record({
      id: 'a',
      uri: 'u',
      firstName: 'f',
      middleName: 'm',
      lastName: 'l',
      loyaltyNumber: '00123456',
      discountCode: 'd',
      requestToken: 't',
      message: 'x',
      lastModified: '2014-04-29T23:19:03.000Z',
    });
    expect(decodeRecord(pascal, null)).toEqual(expected);
    expect(decodeRecord(camel.replace('<ConnectionRequest>', '<ConnectionRequest xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'), null)).toEqual({
      ...expected,
      emailAddresses: ['e@x'],
    });
  });

  it('refuses a field that appears twice rather than guess', () => {
    expect(failure(() => onlyItem('<FirstName>a</FirstName><firstname>b</firstname>')).message).toMatch(/appears twice/);
  });

  it('keeps whitespace, special characters and leading zeros exactly', () => {
    expect(onlyItem('<FirstName>  Zoë\t</FirstName>').firstName).toBe('  Zoë\t');
    expect(onlyItem('<FirstName>\n  Maria\n</FirstName>').firstName).toBe('\n  Maria\n');
    expect(onlyItem('<FirstName>   </FirstName>').firstName).toBe('   ');
    expect(onlyItem('<LastName>O&apos;Brien &amp; &lt;Sons&gt; &quot;Ltd&quot;</LastName>').lastName).toBe(`O'Brien & <Sons> "Ltd"`);
    expect(onlyItem("<LastName>O'Brien \"x\" > y</LastName>").lastName).toBe(`O'Brien "x" > y`);
    expect(onlyItem('<LastName>a&#13;&#10;b&#x41;&#233;&#x1F600;</LastName>').lastName).toBe('a\r\nbAé😀');
    expect(onlyItem('<LastName>&amp;#13;</LastName>').lastName).toBe('&#13;');
    expect(onlyItem('<LastName>a\r\nb</LastName>').lastName).toBe('a\nb');
    expect(onlyItem('<LoyaltyNumber>00123456</LoyaltyNumber>').loyaltyNumber).toBe('00123456');
    expect(onlyItem('<LoyaltyNumber>1e5</LoyaltyNumber>').loyaltyNumber).toBe('1e5');
    expect(onlyItem('<Message>true</Message>').message).toBe('true');
    expect(onlyItem('<Message><![CDATA[a &amp; <b>]]> &amp; c</Message>').message).toBe('a &amp; <b> & c');
  });

  it('refuses references XML does not define', () => {
    expect(failure(() => onlyItem('<LastName>&nbsp;</LastName>')).message).toMatch(/undefined entity &nbsp;/);
    expect(failure(() => onlyItem('<LastName>&#0;</LastName>')).message).toMatch(/&#0; is not a character XML allows/);
    expect(failure(() => onlyItem('<LastName>&#xD800;</LastName>')).message).toMatch(/&#xD800;/);
  });
});

describe('times', () => {
  it.each([
    ['2014-04-29T23:19:03', '2014-04-29T23:19:03.000Z'],
    ['2014-04-29T23:19:03Z', '2014-04-29T23:19:03.000Z'],
    [' 2014-04-29T23:19:03 ', '2014-04-29T23:19:03.000Z'],
    ['2014-04-29T23:19:03.5', '2014-04-29T23:19:03.500Z'],
    ['2014-04-29T23:19:03.1234567', '2014-04-29T23:19:03.123Z'],
    ['2014-04-29T23:19:03.1234567Z', '2014-04-29T23:19:03.123Z'],
    ['2014-04-30T01:19:03+02:00', '2014-04-29T23:19:03.000Z'],
    ['2014-04-29T18:49:03-04:30', '2014-04-29T23:19:03.000Z'],
    ['2014-04-30T01:19:03+0200', '2014-04-29T23:19:03.000Z'],
    ['2016-02-29T00:00:00', '2016-02-29T00:00:00.000Z'],
    ['0050-01-01T00:00:00', '0050-01-01T00:00:00.000Z'],
  ])('reads %j as %s', (text, iso) => {
    expect(fromConcurTime(text)).toBe(iso);
  });

  it.each([
    '',
    'yesterday',
    '2014-04-29',
    '2014-04-29T23:19',
    '2014-04-29 23:19:03',
    '2014-02-30T00:00:00',
    '2015-02-29T00:00:00',
    '2014-13-01T00:00:00',
    '2014-04-29T24:00:00',
    '2014-04-29T23:60:00',
    '2014-04-29T23:19:60',
    '2014-04-29T23:19:03+24:00',
    '2014-04-29T23:19:03 PST',
    '1398813543',
  ])('refuses %j', (text) => {
    expect(failure(() => fromConcurTime(text)).message).toMatch(/is not a Concur time/);
  });

  it('reads a zone-less time exactly when it names a real second (no 30 February, no 24:00)', () => {
    // Each part up to one past its largest value, so that most times are near an edge.
    const upTo = (max: number, width = 2) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(width, '0'));
    fc.assert(
      fc.property(upTo(9999, 4), upTo(13), upTo(32), upTo(24), upTo(60), upTo(60), (y, mo, d, h, mi, s) => {
        const text = `${y}-${mo}-${d}T${h}:${mi}:${s}`;
        // Date.parse rolls 30 February into March; a real second reads back as written.
        const ms = Date.parse(`${text}Z`);
        const real = !Number.isNaN(ms) && new Date(ms).toISOString() === `${text}.000Z`;
        if (real) expect(fromConcurTime(text)).toBe(`${text}.000Z`);
        else expect(failure(() => fromConcurTime(text)).message).toMatch(/is not a Concur time/);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a record with a bad LastModified, naming the record', () => {
    expect(failure(() => onlyItem('<LastModified>4/29/2014 11:19 PM</LastModified>')).message).toMatch(
      /connection request cr-1 has a bad LastModified: "4\/29\/2014 11:19 PM" is not a Concur time/,
    );
  });

  it('reads an empty LastModified as no time', () => {
    expect(onlyItem('<LastModified />').lastModified).toBeNull();
  });

  it('turns what the record schema refuses into a readable reason', () => {
    // Valid as a Concur time, but a year before 0000 once moved to UTC.
    const err = failure(() => onlyItem('<LastModified>0000-01-01T00:00:00+01:00</LastModified>'));
    expect(err.message).toMatch(/^connection request cr-1 is invalid:\n✖ .*\n {2}→ at lastModified$/);
  });
});

describe('JSON', () => {
  it('reads PascalCase v3.0 keys, JSON null as null, and a bare object for GET by id', () => {
    const body = JSON.stringify({
      DiscountCode: null,
      FirstName: 'Maria',
      ID: 'a',
      LastModified: '2014-04-29T23:19:03',
      LastName: 'Smith',
      LoyaltyNumber: '23242526',
      Message: '',
      MiddleName: '',
      RequestToken: 't',
      Status: 'pending',
      URI: 'u',
    });
    const expected = record({
      id: 'a',
      uri: 'u',
      firstName: 'Maria',
      middleName: '',
      lastName: 'Smith',
      loyaltyNumber: '23242526',
      requestToken: 't',
      message: '',
      lastModified: '2014-04-29T23:19:03.000Z',
    });
    expect(decodeBody(body, 'application/json')).toEqual({ kind: 'record', record: expected });
    expect(decodePage(`{"Items":[${body}],"NextPage":null}`, 'application/json')).toEqual({ items: [expected], nextPage: null });
  });

  it.each([
    ['{"Items":[]}', { items: [], nextPage: null }],
    ['{"Items":null,"NextPage":""}', { items: [], nextPage: null }],
    ['{"items":[],"nextPage":"https://x/2"}', { items: [], nextPage: 'https://x/2' }],
    ['[{"ID":"a","Status":"Pending"}]', { items: [record({ id: 'a' })], nextPage: null }],
  ])('reads the page %s', (body, page: ConcurPage) => {
    expect(decodePage(body, 'application/json')).toEqual(page);
  });

  it('treats a top-level {"Message"} as an error, as SwiftyConcur does', () => {
    expect(decodeBody('{"Message":"An error has occurred."}', 'application/json')).toEqual({
      kind: 'error',
      message: 'An error has occurred.',
      id: null,
      serverTime: null,
    });
    const err = failure(() => decodePage('{"Message":"An error has occurred."}', null), 'concur_error');
    expect(err.concurMessage).toBe('An error has occurred.');
    expect(err.concurId).toBeUndefined();
  });

  it('refuses what is not a Concur shape', () => {
    expect(failure(() => decodePage('{"Items":{}}', null)).message).toMatch(/"Items" is not a list/);
    expect(failure(() => decodePage('{"Items":[],"NextPage":3}', null)).message).toMatch(/"NextPage" is not a string/);
    expect(failure(() => decodePage('{"Items":[1]}', null)).message).toMatch(/item 1 is not a JSON object/);
    expect(failure(() => decodePage('{"Items":[{"Status":"Pending"}]}', null)).message).toBe('item 1 has no ID');
    expect(failure(() => decodePage('{"hello":"world"}', null)).message).toMatch(/neither a page.*keys: hello/);
    expect(failure(() => decodePage('{"ID":"a","Id":"b","Status":"Pending"}', null)).message).toMatch(/appears twice/);
    expect(failure(() => decodePage('{"Items":[', 'application/json')).message).toMatch(/^malformed JSON: /);
  });
});

describe('telling XML from JSON', () => {
  const xml = '<ConnectionRequest><ID>a</ID><Status>Pending</Status></ConnectionRequest>';
  const json = '{"ID":"a","Status":"Pending"}';

  it.each([null, 'application/xml', 'application/json', 'text/plain', 'text/html; charset=utf-8'])(
    'goes by the body, whatever the Content-Type (%s) says',
    (contentType) => {
      expect(decodeRecord(xml, contentType)).toEqual(record({ id: 'a' }));
      expect(decodeRecord(`\uFEFF\n  ${json}`, contentType)).toEqual(record({ id: 'a' }));
    },
  );

  it('refuses a body that is neither, naming the Content-Type', () => {
    expect(failure(() => decodePage('', 'application/xml')).message).toBe(
      'expected XML or JSON from Concur, got an empty body (Content-Type: application/xml)',
    );
    expect(failure(() => decodePage('Service Unavailable', null)).message).toBe(
      'expected XML or JSON from Concur, got a body starting "Service Unavailable" (Content-Type: none)',
    );
  });

  it('accepts a page of exactly one for GET by id, and nothing else', () => {
    expect(decodeRecord(`{"Items":[${json}]}`, null)).toEqual(record({ id: 'a' }));
    expect(failure(() => decodeRecord('{"Items":[]}', null)).message).toMatch(/expected one connection request, got a page of 0/);
    expect(failure(() => decodeRecord(`${xml}${xml}`, null)).message).toMatch(/got a page of 2/);
  });
});

describe('safety', () => {
  it('refuses a billion-laughs document fast and with modest memory', () => {
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    const started = performance.now();
    const err = failure(() => decodePage(BILLION_LAUGHS, 'application/xml'));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(50 * 1024 * 1024);
    expect(err.message).toMatch(/^XML with a DOCTYPE is refused/);
  });

  it.each([
    ['an external entity', '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><ConnectionRequest><ID>&xxe;</ID></ConnectionRequest>'],
    ['a lower-case doctype', '<!doctype html><html></html>'],
    ['a stray ENTITY declaration', '<ConnectionRequest><!ENTITY a "b"><ID>a</ID></ConnectionRequest>'],
  ])('refuses %s', (_case, body) => {
    expect(failure(() => decodeBody(body, null)).message).toMatch(/DOCTYPE is refused/);
  });

  it('reads no DOCTYPE even past the check: its entities are never defined, let alone expanded', () => {
    let caught: unknown;
    try {
      readXml(BILLION_LAUGHS);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConcurError);
    expect((caught as ConcurError).message).toMatch(/^malformed XML: /);
    expect((caught as ConcurError).message.length).toBeLessThan(200);
  });

  it('refuses a body over the default limit, counting bytes', () => {
    const body = `<ConnectionRequests>${' '.repeat(DEFAULT_MAX_BODY_BYTES)}</ConnectionRequests>`;
    expect(failure(() => decodePage(body, null)).message).toBe(
      `body of ${DEFAULT_MAX_BODY_BYTES + 41} bytes exceeds the limit of ${DEFAULT_MAX_BODY_BYTES} bytes`,
    );
    // 李 is three bytes in UTF-8: 34 characters, 36 bytes.
    const small = '<ConnectionRequest><ID>李</ID></ConnectionRequest>';
    expect(failure(() => decodePage(small, null, { maxBytes: 40 })).message).toBe('body of 51 bytes exceeds the limit of 40 bytes');
    expect(() => decodePage(small, null, { maxBytes: 51 })).toThrow(/has no status/);
  });

  it('reads a page near the limit in reasonable time', () => {
    // Written by the sandbox: a fixture written with the relay's own encoder would prove little.
    const items: WireRecord[] = Array.from({ length: 7000 }, (_, i) => ({
      ...record({ id: `cr-${i}`, firstName: 'Łukasz & <Zoë>', requestToken: 'x'.repeat(300) }),
      lastModified: Date.UTC(2014, 3, 29, 23, 19, 3),
    }));
    const body = writePage(items, null);
    expect(body.length).toBeGreaterThan(3 * 1024 * 1024);
    expect(body.length).toBeLessThan(DEFAULT_MAX_BODY_BYTES);
    const started = performance.now();
    expect(decodePage(body, null).items).toHaveLength(7000);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it.each([
    ['a tag that is never closed', '<ConnectionRequests><Items>', /^malformed XML: .*Items/],
    ['mismatched tags', '<ConnectionRequests><Items></ConnectionRequests>', /^malformed XML: Expected closing tag 'Items'.*\(line 1, column \d+\)$/],
    ['text after the root', '<ConnectionRequests></ConnectionRequests> trailing', /^malformed XML: text outside the root element/],
    ['an open attribute quote', '<ConnectionRequest a="x><ID>a</ID></ConnectionRequest>', /^malformed XML: /],
    ['several bare roots, one broken', '<ConnectionRequest><ID>a</ID></ConnectionRequest><ConnectionRequest><ID>b</ID>', /^malformed XML: /],
    ['a very deep document', `${'<a>'.repeat(500)}${'</a>'.repeat(500)}`, /^unreadable XML: /],
  ])('refuses %s with the reason', (_case, body, reason) => {
    expect(failure(() => decodePage(body, 'application/xml')).message).toMatch(reason);
  });
});

// ---- properties ----

const XML_UNSAFE = ['<', '>', '&', '"', "'", ']]>', '&amp;', '&#13;', '&lt;'];
const WHITESPACE = [' ', '  ', '\t', '\n', '\r', '\r\n', '\u00A0', '\u2028'];
const NAMES = ['Zoë', "O'Brien", 'Łukasz', '李', 'محمد', '😀', 'Ñ', 'ß'];
// Any character XML 1.0 can carry (no C0 controls but \t \n \r, which come from WHITESPACE; no lone surrogates).
const xmlChar = fc
  .integer({ min: 0x20, max: 0x10ffff })
  .filter((code) => (code < 0xd800 || code > 0xdfff) && code !== 0xfffe && code !== 0xffff)
  .map((code) => String.fromCodePoint(code));
const text = fc.string({
  unit: fc.oneof(fc.constantFrom(...XML_UNSAFE, ...WHITESPACE, ...NAMES), xmlChar, fc.constantFrom(...'aZ09-_.:/')),
  maxLength: 10,
});
const recordArb = wireRecordArb(text);
const optionsArb = fc.record({
  format: fc.constantFrom('xml' as const, 'json' as const),
  version: fc.constantFrom('3.0' as const, '3.2' as const),
  bareRoot: fc.boolean(),
  statusCase: fc.constantFrom('as-is' as const, 'lower' as const, 'upper' as const),
});
// Concur's NextPage is an absolute URL; the relay trims it, so only trimmed strings come back unchanged.
const nextPageArb = fc.option(
  fc.oneof(
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
    text.map((s) => s.trim()).filter((s) => s !== ''),
  ),
  { nil: null },
);
const contentTypeArb = fc.constantFrom(null, 'application/xml; charset=utf-8', 'application/json', 'text/plain');


describe('properties', () => {
  it('decodePage reads what the sandbox’s writePage writes: the same records and NextPage, in every format', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 4 }), nextPageArb, optionsArb, contentTypeArb, (records, nextPage, options, contentType) => {
        const body = writePage(records, nextPage, options);
        // The seed's bare roots have nowhere to put a NextPage.
        const lost = options.format === 'xml' && options.bareRoot && records.length > 0;
        expect(decodePage(body, contentType)).toEqual({
          items: records.map((r) => asRelayReads(r, options.version)),
          nextPage: lost ? null : nextPage,
        });
      }),
      { numRuns: 400 },
    );
  });

  it('decodeRecord reads what the sandbox’s writeRecord writes: the same record, in every format', () => {
    fc.assert(
      fc.property(recordArb, optionsArb, contentTypeArb, (r, options, contentType) => {
        expect(decodeRecord(writeRecord(r, options), contentType)).toEqual(asRelayReads(r, options.version));
      }),
      { numRuns: 400 },
    );
  });

  it('fromConcurTime reads the sandbox’s concurTime back to the same second', () => {
    fc.assert(
      fc.property(wholeSecond, (ms) => {
        expect(fromConcurTime(concurTime(ms))).toBe(new Date(ms).toISOString());
      }),
    );
  });

  it('fails on any other input with a bad_response, never another error', () => {
    const body = fc.oneof(
      fc.string(),
      fc.string({ unit: fc.constantFrom('<', '>', '/', '&', ';', '#', '"', '=', ' ', 'a', 'ID', 'Status', '{', '}', '[', ']', ':', ',') }),
      // Valid bodies cut short or with one character replaced.
      fc
        .tuple(fc.array(recordArb, { maxLength: 2 }), optionsArb, fc.nat(), fc.string({ maxLength: 1 }))
        .map(([records, options, at, ch]) => {
          const whole = writePage(records, null, options);
          const cut = at % (whole.length + 1);
          return at % 2 === 0 ? whole.slice(0, cut) : whole.slice(0, cut) + ch + whole.slice(cut + 1);
        }),
    );
    fc.assert(
      fc.property(body, contentTypeArb, (input, contentType) => {
        try {
          decodeBody(input, contentType);
        } catch (err) {
          expect(err).toBeInstanceOf(ConcurError);
          expect((err as ConcurError).kind).toBe('bad_response');
        }
      }),
      { numRuns: 1000 },
    );
  });
});
