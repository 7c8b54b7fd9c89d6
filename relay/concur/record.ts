import { z } from 'zod';
import { StatusCode } from '../../shared/status.js';

/**
 * The longest value the relay accepts for each text field, in characters. A hostile Concur once
 * sent a 4 MB name; no real one is more than a few dozen characters, so each bound is generous
 * for what Concur sends and small enough that a page of them costs nothing to read and store.
 * This is the one place the bounds live: the scan before the parser (bounds.ts) derives its
 * longest run of text from them. Status and LastModified need none: they must match a code or a
 * time. E-mail addresses (API 3.1 on) have their own bound: an address is at most 254 characters
 * (RFC 5321), and Concur sends at most five (email1 to email5).
 */
export const FIELD_MAX_LENGTH = {
  /** v3.0 IDs are 28 characters, v3.2 IDs GUIDs (36). */
  id: 128,
  /** A URL: 2,048 is what every browser and proxy carries. */
  uri: 2048,
  firstName: 256,
  middleName: 256,
  lastName: 256,
  /** Airline and hotel programme numbers are 6 to 20 characters. */
  loyaltyNumber: 128,
  discountCode: 128,
  /** Short opaque strings in v3.0; room for a signed token (a JWT is 1–2 KB) should 3.2 issue one. */
  requestToken: 4096,
  message: 2048,
  /** A GUID in v3.2. */
  userId: 128,
} as const;

/** One address (RFC 5321), and how many: Concur's emailAddresses hold email1 to email5. */
export const EMAIL_MAX_LENGTH = 254;
export const MAX_EMAIL_ADDRESSES = 5;

const text = (field: keyof typeof FIELD_MAX_LENGTH) => z.string().max(FIELD_MAX_LENGTH[field]);

/**
 * One connection request as Concur describes it, after the codec has read it (any version,
 * XML or JSON). Unlike the API's ConnectionRequest it carries the request token, so it must
 * never be sent anywhere but the store.
 */
export const ConcurRecord = z.object({
  id: text('id').min(1),
  uri: text('uri').nullable(),
  firstName: text('firstName').nullable(),
  middleName: text('middleName').nullable(),
  lastName: text('lastName').nullable(),
  loyaltyNumber: text('loyaltyNumber').nullable(),
  discountCode: text('discountCode').nullable(),
  /** Normalised to the catalogue's spelling. */
  status: StatusCode,
  requestToken: text('requestToken').nullable(),
  message: text('message').nullable(),
  /** ISO-8601 UTC with `Z` (Concur sends no zone; its times are UTC). */
  lastModified: z.iso.datetime({ offset: false }).nullable(),
  /** v3.2 only. */
  userId: text('userId').nullable(),
  /**
   * The traveller's addresses in Concur's order (email1 first), without its nulls and empty ones;
   * [] where the version sends none (3.0). Shown to the partner's people to tell travellers apart.
   */
  emailAddresses: z.array(z.string().min(1).max(EMAIL_MAX_LENGTH)).max(MAX_EMAIL_ADDRESSES),
});
export type ConcurRecord = z.infer<typeof ConcurRecord>;

export interface ConcurPage {
  items: ConcurRecord[];
  /** Concur's NextPage URL, opaque; null at the end. */
  nextPage: string | null;
}
