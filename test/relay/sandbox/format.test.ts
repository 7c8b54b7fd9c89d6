import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { createSandbox } from '../../../relay/sandbox/app.js';
import { ManualClock } from '../../../relay/sandbox/clock.js';
import { type WireRecord, concurTime, writeError, writePage, writeRecord } from '../../../relay/sandbox/format/index.js';

/**
 * The sandbox's writers against Concur's own documentation: the literal text of the v3.0
 * Connection Requests resource page (the seed), and the error bodies of Concur's HTTP status-code
 * page and Node SDK. Compared by structure (names, attributes, text, order), not by whitespace.
 */

// The seed's Example 1 response (and Examples 2 and 3), verbatim.
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

// The seed's data model: its closing tag lacks the `/`, so only its names are compared.
const SEED_DATA_MODEL_ITEM = ['DiscountCode', 'FirstName', 'ID', 'LastModified', 'LastName', 'LoyaltyNumber', 'Message', 'MiddleName', 'RequestToken', 'Status', 'URI'];

const SEED_RECORD: WireRecord = {
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
  userId: 'b244a439-a082-4405-b0d7-2e61ebf9e29c',
  emailAddresses: [],
};

// Concur's v3 error element as its HTTP status-code pages print it (the Id is cut short there too).
const DOC_ERROR_XML = `<Error><Message>There is an error in XML document (1, 147).</Message><Server-Time>2017-06-22T16:51:37</Server-Time><Id>3BDBC49E-…</Id></Error>`;
// A 403 against connectionrequests, from Concur's Node SDK tests.
const DOC_ERROR_JSON = `{"Error":{"Message":"Forbidden. Please check your Instance URL and OAuth token.","Server-Time":"2015-03-26T17:45:54","Id":"56054F41-…"}}`;

// The v3.2 JSON list item Concur's current page shows (one of its two), verbatim.
const V32_JSON_ITEM = `{"firstName":"FirstName","middleName":null,"lastName":"LastName","loyaltyNumber":"0123","status":"Pending","requestToken":"token-string","lastModified":"2022-11-09T05:57:29","emailAddresses":{"email1":null,"email2":null,"email3":null,"email4":null,"email5":null},"userId":"71ff9cf8-0593-4620-ba6c-145509164ba0","ID":"e8a3c057-bb9b-421e-85fb-06777bce54d3","URI":"https://integration.concursolutions.com/api/v3.2/common/connectionrequests/5c708334-fcea-4be6-baa5-3e4929e95f50"}`;

// The first item of Concur's current v3.2 XML list example, verbatim.
const V32_XML_ITEM = `<ConnectionRequest xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><ID>444f5142-2e5a-4ab9-9aad-da916af6fcd7</ID><URI>https://us.concursolutions.com/api/v3.2/common/connectionrequests/44f5142-2e5a-4ab9-9aad-da916af6fcd7</URI><firstName>First</firstName><middleName xsi:nil="true" /><lastName>Last</lastName><loyaltyNumber>1234</loyaltyNumber><status>Pending</status><requestToken>token-string</requestToken><lastModified>2022-11-02T09:39:21</lastModified><emailAddresses><email1>example1@example.com</email1><email2>example2@example.com</email2><email3>example3@example.com</email3><email4 xsi:nil="true" /><email5 xsi:nil="true" /></emailAddresses><userId>b244a439-a082-4405-b0d7-2e61ebf9e29c</userId></ConnectionRequest>`;

const reader = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  trimValues: true,
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreDeclaration: true,
});

/** Element names, attributes, text and order; indentation and the XML declaration do not count. */
function structure(xml: string): unknown {
  return reader.parse(xml);
}

/** The local names of an element's children, in order. */
function childNames(xml: string, path: string[]): string[] {
  let nodes = reader.parse(xml) as Array<Record<string, unknown>>;
  for (const name of path) {
    const node = nodes.find((n) => name in n);
    nodes = (node?.[name] ?? []) as Array<Record<string, unknown>>;
  }
  return nodes.flatMap((n) => Object.keys(n).filter((key) => key !== ':@' && key !== '#text'));
}

describe('sandbox formats: the seed and Concur’s documented bodies', () => {
  it('writes the seed’s record as the seed’s Example 1, element for element (GET by id and the bare-root list)', () => {
    const options = { statusCase: 'lower' as const };
    expect(structure(writeRecord(SEED_RECORD, options))).toEqual(structure(SEED_EXAMPLE_1));
    expect(structure(writePage([SEED_RECORD], null, { ...options, bareRoot: true }))).toEqual(structure(SEED_EXAMPLE_1));
    // The comparison sees a difference of one letter.
    expect(structure(writeRecord(SEED_RECORD))).not.toEqual(structure(SEED_EXAMPLE_1));
  });

  it('the running sandbox answers the seed’s Example 1 request with the seed’s response', async () => {
    const sb = createSandbox({ clock: new ManualClock(Date.UTC(2014, 3, 29, 23, 20)), seed: false });
    sb.quirks.bareRoot = true;
    sb.quirks.statusCase = 'lower';
    const { id, firstName, middleName, lastName, loyaltyNumber, discountCode, requestToken, message } = SEED_RECORD;
    sb.state.add({ id, firstName, middleName, lastName, loyaltyNumber, discountCode, message, requestToken: requestToken!, lastModified: SEED_RECORD.lastModified! });
    const res = await sb.app.request('https://www.concursolutions.com/api/v3.0/common/connectionrequests', {
      headers: { Authorization: `OAuth ${sb.credentials.accessToken}`, 'Content-Type': 'application/xml' },
    });
    expect(res.status).toBe(200);
    expect(structure(await res.text())).toEqual(structure(SEED_EXAMPLE_1));
    sb.close();
  });

  it('writes null as xsi:nil and the empty string as an empty element, in the seed’s own spelling', () => {
    const body = writeRecord(SEED_RECORD);
    expect(body).toContain('<MiddleName />');
    expect(body).toContain('<DiscountCode xsi:nil="true" />');
    expect(body).toContain('<Message />');
    expect(body).toContain('<LastModified>2014-04-29T23:19:03</LastModified>');
  });

  it('wraps a list as the data model does: ConnectionRequests > Items > ConnectionRequest, then NextPage', () => {
    const next = 'https://www.concursolutions.com/api/v3.0/common/connectionrequests?offset=nQ4hRgi9Q9uLj32rQWtgN3Mw&limit=1';
    const page = writePage([SEED_RECORD], next);
    expect(childNames(page, [])).toEqual(['ConnectionRequests']);
    expect(childNames(page, ['ConnectionRequests'])).toEqual(['Items', 'NextPage']);
    expect(childNames(page, ['ConnectionRequests', 'Items'])).toEqual(['ConnectionRequest']);
    expect(childNames(page, ['ConnectionRequests', 'Items', 'ConnectionRequest']).sort()).toEqual(SEED_DATA_MODEL_ITEM);
    expect(page).toContain(`<NextPage>${next.replace('&', '&amp;')}</NextPage>`);
    // The wrapper carries the namespaces the seed's root does, since xsi:nil needs its prefix bound.
    expect(page).toContain('<ConnectionRequests xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">');
    expect(childNames(writePage([SEED_RECORD], null), ['ConnectionRequests'])).toEqual(['Items']);
  });

  it('writes Concur’s error element as its documentation prints it, in XML and JSON', () => {
    const xml = writeError({ message: 'There is an error in XML document (1, 147).', id: '3BDBC49E-…', serverTime: Date.UTC(2017, 5, 22, 16, 51, 37) });
    expect(structure(xml)).toEqual(structure(DOC_ERROR_XML));
    const json = writeError(
      { message: 'Forbidden. Please check your Instance URL and OAuth token.', id: '56054F41-…', serverTime: Date.UTC(2015, 2, 26, 17, 45, 54, 400) },
      'json',
    );
    expect(JSON.parse(json)).toEqual(JSON.parse(DOC_ERROR_JSON));
  });

  it('writes v3.0 JSON with the model’s PascalCase names and v3.2 JSON with the names Concur’s 3.2 example uses', () => {
    const v30 = JSON.parse(writePage([SEED_RECORD], null, { format: 'json' })) as { Items: Array<Record<string, unknown>>; NextPage: unknown };
    expect(Object.keys(v30)).toEqual(['Items', 'NextPage']);
    expect(Object.keys(v30.Items[0]!).sort()).toEqual(SEED_DATA_MODEL_ITEM);
    expect(v30.Items[0]).toMatchObject({ MiddleName: '', DiscountCode: null, LastModified: '2014-04-29T23:19:03' });

    const v32 = JSON.parse(writeRecord(SEED_RECORD, { format: 'json', version: '3.2' })) as Record<string, unknown>;
    const documented = JSON.parse(V32_JSON_ITEM) as Record<string, unknown>;
    // Key for key and in the example's order: no discountCode or message, ID and URI last.
    expect(Object.keys(v32)).toEqual(Object.keys(documented));
    expect(v32.emailAddresses).toEqual(documented.emailAddresses);
    expect(v32.lastModified).toBe('2014-04-29T23:19:03');
    const withAddresses = JSON.parse(writeRecord({ ...SEED_RECORD, emailAddresses: ['a@x.org', 'b@x.org'] }, { format: 'json', version: '3.2' })) as Record<string, unknown>;
    expect(withAddresses.emailAddresses).toEqual({ email1: 'a@x.org', email2: 'b@x.org', email3: null, email4: null, email5: null });
  });

  it('writes v3.2 XML element for element as Concur’s 3.2 example: ID and URI first, emailAddresses with five slots', () => {
    const record = { ...SEED_RECORD, middleName: null, emailAddresses: ['example1@example.com', 'example2@example.com', 'example3@example.com'] };
    const xml = writeRecord(record, { version: '3.2' });
    expect(childNames(xml, ['ConnectionRequest'])).toEqual(childNames(V32_XML_ITEM, ['ConnectionRequest']));
    expect(structure(xml.replace(/<(ID|URI|firstName|lastName|loyaltyNumber|requestToken|lastModified|userId)>[^<]*</g, '<$1><'))).toEqual(
      structure(V32_XML_ITEM.replace(/<(ID|URI|firstName|lastName|loyaltyNumber|requestToken|lastModified|userId)>[^<]*</g, '<$1><')),
    );
  });

  it('writes times as Concur does: UTC, no zone, no fraction', () => {
    expect(concurTime(Date.UTC(2014, 3, 29, 23, 19, 3, 999))).toBe('2014-04-29T23:19:03');
    expect(concurTime(Date.parse('0042-01-02T03:04:05Z'))).toBe('0042-01-02T03:04:05');
    expect(() => concurTime(Number.NaN)).toThrow(RangeError);
  });
});
