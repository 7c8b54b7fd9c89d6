import fc from 'fast-check';
import { expect } from 'vitest';
import { STATUS_CODES } from '../../shared/status.js';
import { ConcurError } from '../../relay/concur/errors.js';
import type { ConcurRecord } from '../../relay/concur/record.js';
import type { ConcurVersion, WireRecord } from '../../relay/sandbox/format/index.js';

/** Hostile and failing inputs shared by the Concur codec and client tests. */

/** The classic entity-expansion document: about 3 GB of "lol" if a parser expands it. */
export const BILLION_LAUGHS = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ConnectionRequests><Items><ConnectionRequest><ID>abc</ID><FirstName>&lol9;</FirstName><Status>Pending</Status></ConnectionRequest></Items></ConnectionRequests>`;

/** The ConcurError a promise rejects with; fails the test when it resolves or throws something else. */
export async function concurFailure(promise: Promise<unknown>): Promise<ConcurError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConcurError);
  return err as ConcurError;
}

/**
 * What the relay should read from a request the sandbox writes (format/): times as ISO text with Z,
 * to the second (Concur's carry no fraction); no userId or e-mail addresses where the version writes
 * none, and no discountCode or message where it writes none (3.2).
 * Written by hand, not with either codec, so that a test built on it checks both.
 */
export function asRelayReads(record: WireRecord, version: ConcurVersion = '3.0'): ConcurRecord {
  const { lastModified } = record;
  return {
    ...record,
    lastModified: lastModified === null ? null : new Date(Math.floor(lastModified / 1000) * 1000).toISOString(),
    userId: version === '3.2' ? record.userId : null,
    emailAddresses: version === '3.2' ? [...record.emailAddresses] : [],
    discountCode: version === '3.2' ? null : record.discountCode,
    message: version === '3.2' ? null : record.message,
  };
}

/** A time in ms, to the second: Concur's times carry no fraction. */
export const wholeSecond = fc
  .integer({ min: Date.parse('0000-01-01T00:00:00Z') / 1000, max: Date.parse('9999-12-31T23:59:59Z') / 1000 })
  .map((seconds) => seconds * 1000);

/** Requests as the sandbox writes them (format/), which shares no code with the relay's decoder, their text fields drawn from `text`. */
export function wireRecordArb(text: fc.Arbitrary<string>): fc.Arbitrary<WireRecord> {
  const nullableText = fc.option(text, { nil: null });
  return fc.record({
    id: text.filter((id) => id.trim() !== ''),
    uri: nullableText,
    firstName: nullableText,
    middleName: nullableText,
    lastName: nullableText,
    loyaltyNumber: nullableText,
    discountCode: nullableText,
    status: fc.constantFrom(...STATUS_CODES),
    requestToken: nullableText,
    message: nullableText,
    lastModified: fc.option(wholeSecond, { nil: null }),
    userId: nullableText,
    emailAddresses: fc.array(text.filter((address) => address !== ''), { maxLength: 5 }),
  });
}
