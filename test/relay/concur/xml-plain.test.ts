import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsedRoots } from '../../../relay/concur/decode-xml.js';
import { readPlainXml } from '../../../relay/concur/xml-plain.js';
import { writePage, writeRecord } from '../../../relay/sandbox/format/index.js';
import { wireRecordArb } from '../../helpers/concur.js';

/**
 * The one-pass reader must never decide anything the validator and parser would decide otherwise:
 * for every document, it either leaves it to them (undefined) or reads exactly the elements they
 * read. And it must take the pages Concur actually sends, or it would save nothing.
 */

/** What the validator and parser make of `xml`: the roots, or the reason they refuse it. */
function full(xml: string): unknown {
  try {
    return parsedRoots(xml);
  } catch (err) {
    return { refused: (err as Error).message };
  }
}

function agrees(xml: string): void {
  const plain = readPlainXml(xml);
  if (plain !== undefined) expect(plain, xml).toEqual(full(xml));
}

const wrapped = (inner: string, tail = '') =>
  `<ConnectionRequests xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Items><ConnectionRequest><ID>a</ID><Status>Pending</Status>${inner}</ConnectionRequest></Items>${tail}</ConnectionRequests>`;

const FIXTURES = [
  wrapped('<MiddleName />'),
  wrapped('<MiddleName xsi:nil="true" />'),
  wrapped("<MiddleName xsi:nil='1'></MiddleName>"),
  wrapped('<MiddleName xsi:nil=" true " a="x" />'),
  wrapped('<MiddleName xsi:nil="false" />'),
  wrapped('<MiddleName xmlns:nil="true" />'),
  wrapped('<MiddleName nil="true" />'),
  wrapped('<MiddleName a:nil="true" b:nil="false" />'),
  wrapped('<MiddleName x="1"y="2" />'),
  wrapped('<MiddleName x="1" x="2" />'),
  wrapped('<MiddleName x=1 />'),
  wrapped('<MiddleName x />'),
  wrapped('<MiddleName x = "1" />'),
  wrapped('<LastName>O&apos;Brien &amp; &lt;Sons&gt; &quot;Ltd&quot;</LastName>'),
  wrapped('<LastName>a&#13;&#10;b&#x41;&#233;&#x1F600;</LastName>'),
  wrapped('<LastName>&nbsp;</LastName>'),
  wrapped('<LastName>&#0;</LastName>'),
  wrapped('<LastName>&#xD800;</LastName>'),
  wrapped('<LastName>&#;&#x;& lt;&a.b;&#12a;&</LastName>'),
  wrapped('<LastName>a\r\nb</LastName>'),
  wrapped('<LastName>  Zoë\t</LastName><FirstName>\n  Maria\n</FirstName>'),
  wrapped('<Message><![CDATA[a &amp; <b>]]> &amp; c</Message>'),
  wrapped('<!-- c --><Message>x</Message>'),
  wrapped('<Nested>a<A>1</A>b<B/>c</Nested>'),
  wrapped('<Extra>ignored</Extra><emailAddresses><email1>e@x</email1><email2 xsi:nil="true"/></emailAddresses>'),
  wrapped('', '<NextPage>https://x.example/cr?offset=Zm9v&amp;limit=10</NextPage>'),
  wrapped('', '<NextPage>https://x.example/cr?limit=2&offset=5d28</NextPage>'),
  wrapped('', '<NextPage xsi:nil="true" />'),
  wrapped('<__proto__>x</__proto__><constructor>y</constructor>'),
  wrapped('<Zoë>x</Zoë>'),
  wrapped('<a:b:c>x</a:b:c>'),
  wrapped('<ID >a</ID >'),
  '<cr:CONNECTIONREQUESTS xmlns:cr="urn:concur"><cr:items><cr:connectionRequest><cr:Id>a</cr:Id></cr:connectionRequest></cr:items></cr:CONNECTIONREQUESTS>',
  '<cr:A><cr:B>x</B></cr:A>',
  '<?xml version="1.0" encoding="utf-8"?><ConnectionRequests />',
  '<?xml version="1.0" encoding="utf-8"?>\n<ConnectionRequests>\n  <Items/>\n</ConnectionRequests>\n',
  ' <?xml version="1.0"?><ConnectionRequests />',
  '<?xml version="1.0"?><?xml version="1.0"?><ConnectionRequests />',
  '<?pi x?><ConnectionRequests />',
  '   <ConnectionRequest><ID>a</ID></ConnectionRequest>\n   <ConnectionRequest><ID>b</ID></ConnectionRequest>\n',
  '<ConnectionRequest><ID>a</ID></ConnectionRequest>x<ConnectionRequest><ID>b</ID></ConnectionRequest>',
  '<ConnectionRequest><ID>a</ID></ConnectionRequest><ConnectionRequest><ID>b</ID>',
  'x<ConnectionRequests />',
  '<ConnectionRequests></ConnectionRequests> trailing',
  '<ConnectionRequests><Items></ConnectionRequests>',
  '<ConnectionRequests><Items>',
  '<ConnectionRequest a="x><ID>a</ID></ConnectionRequest>',
  '<ConnectionRequest a="x>y"><ID>a</ID></ConnectionRequest>',
  '<Error><Message>There is an error in XML document (1, 147).</Message><Server-Time>2017-06-22T16:51:37</Server-Time><Id>3BDB</Id></Error>',
  '<html><body>Service Unavailable</body></html>',
  `${'<a>'.repeat(40)}${'</a>'.repeat(40)}`,
  '</a>',
  '<a></a></a>',
  '< a/>',
  '<a/ >',
  '<1a/>',
  '',
  '   ',
];

const text = fc.string({
  unit: fc.oneof(fc.constantFrom('<', '>', '&', '"', "'", '&amp;', '&#13;', '&lt;', '&x;', ' ', '\t', '\n', '\r\n', 'Zoë', '李', '😀'), fc.constantFrom(...'aZ09-_.:/;#')),
  maxLength: 10,
});
const recordArb = wireRecordArb(text);
const optionsArb = fc.record({
  format: fc.constant('xml' as const),
  version: fc.constantFrom('3.0' as const, '3.2' as const),
  bareRoot: fc.boolean(),
  statusCase: fc.constantFrom('as-is' as const, 'lower' as const, 'upper' as const),
});

describe('readPlainXml', () => {
  it.each(FIXTURES.map((xml) => [xml]))('reads %j as the validator and parser do, or leaves it to them', (xml) => {
    agrees(xml);
  });

  it('reads the pages and requests the sandbox writes itself, as the parser does', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 4 }), fc.option(text, { nil: null }), optionsArb, (records, nextPage, options) => {
        agrees(writePage(records, nextPage, options));
        for (const record of records) agrees(writeRecord(record, options));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees on those pages cut short, or with a character replaced or inserted', () => {
    const mutated = fc
      .tuple(fc.array(recordArb, { minLength: 1, maxLength: 2 }), optionsArb, fc.nat(), fc.constantFrom('<', '>', '/', '&', ';', '"', "'", '=', ' ', ':', 'a', '!', '?', ''), fc.nat(2))
      .map(([records, options, at, ch, how]) => {
        const whole = writePage(records, 'https://x.example/?a=1&b=2', options);
        const cut = at % (whole.length + 1);
        return how === 0 ? whole.slice(0, cut) : whole.slice(0, cut) + ch + whole.slice(cut + (how === 1 ? 1 : 0));
      });
    fc.assert(fc.property(mutated, agrees), { numRuns: 1500 });
  });

  it('agrees on made-up markup', () => {
    const markup = fc.string({
      unit: fc.constantFrom('<', '>', '</', '/>', 'a', 'b', 'x:a', 'nil', '="true"', "='1'", ' ', '\n', '&amp;', '&', ';', '?', '<?xml version="1.0"?>', 'ID'),
      maxLength: 30,
    });
    fc.assert(fc.property(markup, agrees), { numRuns: 3000 });
  });

  it('reads the pages Concur sends itself, without the parser', () => {
    const page = (version: '3.0' | '3.2') =>
      writePage(
        Array.from({ length: 10 }, (_, i) => ({
          id: `cr-${i}`, uri: `https://x.example/cr-${i}`, firstName: 'Zoë', middleName: i % 2 ? null : '', lastName: "O'Brien & Sons",
          loyaltyNumber: '0012', discountCode: null, status: 'Pending', requestToken: 'tok', message: '', lastModified: 1_400_000_000_000,
          userId: null, emailAddresses: ['a@x.example'],
        })),
        'https://x.example/cr?offset=abc&limit=10&status=Pending',
        { format: 'xml', version },
      );
    for (const version of ['3.0', '3.2'] as const) {
      const xml = page(version);
      expect(readPlainXml(xml)).toBeDefined();
      expect(readPlainXml(xml)).toEqual(parsedRoots(xml));
    }
  });
});
