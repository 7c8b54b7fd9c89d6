import { describe, expect, it } from 'vitest';
import { ConcurError } from '../../../relay/concur/errors.js';
import { readXml } from '../../../relay/concur/xml-read.js';

/** The one strict pass over Concur's XML (saxes): what decode-xml.ts gets, and the reasons it gives. */

function refusal(xml: string): string {
  try {
    readXml(xml);
  } catch (error) {
    expect(error).toBeInstanceOf(ConcurError);
    return (error as ConcurError).message;
  }
  throw new Error(`read without complaint: ${xml}`);
}

describe('readXml', () => {
  it('reads local names, their lower-case keys, xsi:nil, own text, CDATA and references', () => {
    const [root] = readXml(
      '<?xml version="1.0" encoding="utf-8"?><r:Root xmlns:r="urn:x" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
        '<MiddleName xsi:nil="true" /><Other xsi:nil=" 1 ">x</Other><LastName>O&apos;Brien &amp; <![CDATA[<Sons> &amp;]]>&#233;</LastName>' +
        '<Mixed>a<B/>b</Mixed></r:Root>',
    );
    expect(root).toMatchObject({ name: 'Root', key: 'root', nil: false });
    expect(root!.children.map((c) => [c.name, c.key, c.nil, c.text])).toEqual([
      ['MiddleName', 'middlename', true, ''],
      ['Other', 'other', true, 'x'],
      ['LastName', 'lastname', false, "O'Brien & <Sons> &amp;é"],
      ['Mixed', 'mixed', false, 'ab'],
    ]);
  });

  it('reads the seed’s bare roots one after another, and a bare & in NextPage as itself', () => {
    const roots = readXml('<?xml version="1.0"?>\n<ConnectionRequest><ID>a</ID></ConnectionRequest>\n<ConnectionRequest><ID>b</ID></ConnectionRequest>\n');
    expect(roots.map((r) => r.children[0]!.text)).toEqual(['a', 'b']);
    const [page] = readXml('<ConnectionRequests><NextPage>https://x.example/cr/?limit=2&offset=4</NextPage></ConnectionRequests>');
    expect(page!.children[0]!.text).toBe('https://x.example/cr/?limit=2&offset=4');
  });

  it('names what is wrong and where, in the body’s own lines and columns', () => {
    expect(refusal('<A><B></A>')).toBe("malformed XML: Expected closing tag 'B' (line 1, column 10)");
    expect(refusal('<?xml version="1.0"?><A><B></A>')).toBe("malformed XML: Expected closing tag 'B' (line 1, column 31)");
    expect(refusal('<A>\n  <B x="1" x="2"/></A>')).toMatch(/^malformed XML: duplicate attribute: x \(line 2, column \d+\)$/);
    expect(refusal('<A><B>')).toBe('malformed XML: <B> is never closed');
    expect(refusal('<A/> tail')).toBe('malformed XML: text outside the root element');
    expect(refusal('<A>&nbsp;&constructor;</A>')).toMatch(/^malformed XML: XML refers to the undefined entity &nbsp; \(Concur declares none\)/);
    expect(refusal('<A>&#xD800;</A>')).toMatch(/^malformed XML: XML character reference &#xD800; is not a character XML allows/);
    // No element at all is for decode-xml.ts to name ("unexpected XML root (none)").
    expect(readXml(' ')).toEqual([]);
  });

  it('refuses a document nested far deeper than any page', () => {
    expect(refusal(`${'<a>'.repeat(40)}${'</a>'.repeat(40)}`)).toBe('unreadable XML: elements nested more than 32 deep');
    expect(readXml(`${'<a>'.repeat(30)}${'</a>'.repeat(30)}`)).toHaveLength(1);
  });
});
