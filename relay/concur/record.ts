import { z } from 'zod';
import { StatusCode } from '../../shared/status.js';

/**
 * One connection request as Concur describes it, after the codec has read it (any version,
 * XML or JSON). Unlike the API's ConnectionRequest it carries the request token, so it must
 * never be sent anywhere but the store.
 */
export const ConcurRecord = z.object({
  id: z.string().min(1),
  uri: z.string().nullable(),
  firstName: z.string().nullable(),
  middleName: z.string().nullable(),
  lastName: z.string().nullable(),
  loyaltyNumber: z.string().nullable(),
  discountCode: z.string().nullable(),
  /** Normalised to the catalogue's spelling. */
  status: StatusCode,
  requestToken: z.string().nullable(),
  message: z.string().nullable(),
  /** ISO-8601 UTC with `Z` (Concur sends no zone; its times are UTC). */
  lastModified: z.iso.datetime({ offset: false }).nullable(),
  /** v3.2 only. */
  userId: z.string().nullable(),
});
export type ConcurRecord = z.infer<typeof ConcurRecord>;

export interface ConcurPage {
  items: ConcurRecord[];
  /** Concur's NextPage URL, opaque; null at the end. */
  nextPage: string | null;
}
