import { type AccessTokenBody, type ErrorBody, type UserProfileBody, type WireRecord, type WireValue, type WriteOptions, isSlots, wireFields } from './wire.js';
import { concurTime } from './time.js';

/**
 * Concur's XML, written as the seed's examples show it:
 *
 *   <ConnectionRequest xmlns:xsd="…XMLSchema" xmlns:xsi="…XMLSchema-instance">
 *     <ID>nVkX…</ID> … <MiddleName /> … <DiscountCode xsi:nil="true" /> … <LastModified>2014-04-29T23:19:03</LastModified>
 *   </ConnectionRequest>
 *
 * A list wraps the requests in `<ConnectionRequests><Items>` with an absolute `<NextPage>` (the data
 * model); the seed's own list examples are bare roots, which `bareRoot` reproduces. Errors are
 * Concur's v3 `<Error><Message/><Server-Time/><Id/></Error>`.
 */

const DECLARATION = '<?xml version="1.0" encoding="utf-8"?>';
const NAMESPACES =
  'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"';

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\r': '&#13;' };

/** Text for an element or a quoted attribute. A bare CR is a reference: a parser would read it as LF. */
function escapeXml(text: string): string {
  return text.replace(/[&<>"\r]/g, (ch) => ESCAPES[ch] ?? ch);
}

/** `<Name>text</Name>`; null is `xsi:nil`, and '' the empty element, as the seed tells them apart. */
function element(name: string, text: string | null): string {
  if (text === null) return `<${name} xsi:nil="true" />`;
  if (text === '') return `<${name} />`;
  return `<${name}>${escapeXml(text)}</${name}>`;
}

/** A field: text, or (emailAddresses) an element of named slots. */
function field(name: string, value: WireValue): string {
  if (!isSlots(value)) return element(name, value);
  return `<${name}>${value.map(([slot, text]) => element(slot, text)).join('')}</${name}>`;
}

function connectionRequest(record: WireRecord, options: WriteOptions, attributes: string): string {
  const fields = wireFields(record, options).map(([name, value]) => field(name, value));
  return `<ConnectionRequest${attributes}>${fields.join('')}</ConnectionRequest>`;
}

/** GET by id: a bare `<ConnectionRequest>` root carrying the namespaces. */
export function recordXml(record: WireRecord, options: WriteOptions = {}): string {
  return `${DECLARATION}${connectionRequest(record, options, ` ${NAMESPACES}`)}`;
}

/** A page of the list. NextPage is left out at the end: nothing documents an empty or nil one. */
export function pageXml(records: readonly WireRecord[], nextPage: string | null, options: WriteOptions = {}): string {
  // An empty body is no XML at all, so an empty page keeps the wrapper even with bareRoot.
  if (options.bareRoot && records.length > 0) {
    // The seed's sample, one root after another with no declaration: not well-formed beyond one item, and yet that is what it shows.
    return records.map((record) => connectionRequest(record, options, ` ${NAMESPACES}`)).join('\n');
  }
  const items = records.map((record) => connectionRequest(record, options, '')).join('');
  const next = nextPage === null ? '' : `<NextPage>${escapeXml(nextPage)}</NextPage>`;
  return `${DECLARATION}<ConnectionRequests ${NAMESPACES}><Items>${items}</Items>${next}</ConnectionRequests>`;
}

export function errorXml(error: ErrorBody): string {
  return (
    `${DECLARATION}<Error><Message>${escapeXml(error.message)}</Message>` +
    `<Server-Time>${concurTime(error.serverTime)}</Server-Time><Id>${escapeXml(error.id)}</Id></Error>`
  );
}

export function accessTokenXml(answer: AccessTokenBody): string {
  return (
    `${DECLARATION}<Access_Token>` +
    `<Instance_URL>${escapeXml(answer.instanceUrl)}</Instance_URL><Token>${escapeXml(answer.token)}</Token>` +
    `<Expiration_Date>${escapeXml(answer.expires)}</Expiration_Date>` +
    (answer.refreshToken === null ? '' : `<Refresh_Token>${escapeXml(answer.refreshToken)}</Refresh_Token>`) +
    '</Access_Token>'
  );
}

/** As the User API's example: a default namespace and `i:` for the instance namespace. */
export function userProfileXml(profile: UserProfileBody): string {
  const text = (name: string, value: string | null) => (value === null || value === '' ? `<${name} />` : `<${name}>${escapeXml(value)}</${name}>`);
  return (
    `${DECLARATION}<UserProfile xmlns="https://www.concursolutions.com/api/user/2011/02" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">` +
    text('LoginId', profile.loginId) +
    text('FirstName', profile.firstName) +
    text('LastName', profile.lastName) +
    text('Mi', profile.mi) +
    text('EmpId', profile.empId) +
    text('Active', profile.active ? 'Y' : 'N') +
    '</UserProfile>'
  );
}
