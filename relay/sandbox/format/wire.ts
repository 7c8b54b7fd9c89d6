import type { StatusCode } from '../../../shared/status.js';
import { concurTime } from './time.js';

/**
 * What the sandbox puts on the wire (a connection request, an error, the legacy token answer) and
 * the names each version gives a request's fields. The sandbox's own types, not the relay's: a
 * fake Concur that shared the relay's record and codec would repeat the relay's mistakes instead
 * of showing them.
 */

/** 3.0 is the seed (PascalCase); 3.2 writes camelCase plus userId, keeping ID and URI upper-case. */
export type ConcurVersion = '3.0' | '3.2';
export type ConcurFormat = 'xml' | 'json';
/** How Status is spelled: as kept (`Pending`), as the seed's examples (`pending`), as Swagger's default (`PENDING`). */
export type StatusCase = 'as-is' | 'lower' | 'upper';

/** One connection request as it goes on the wire. null is written as `xsi:nil` (JSON null); '' as an empty element. */
export interface WireRecord {
  id: string;
  uri: string | null;
  firstName: string | null;
  middleName: string | null;
  lastName: string | null;
  loyaltyNumber: string | null;
  discountCode: string | null;
  status: StatusCode;
  requestToken: string | null;
  message: string | null;
  /** Milliseconds since the epoch; written in Concur's zone-less UTC (time.ts). */
  lastModified: number | null;
  /** Written by 3.2 only. */
  userId: string | null;
  /** The traveller's addresses, at most five (email1…email5); written by 3.2 only, every slot, null where empty. */
  emailAddresses: readonly string[];
}

export interface WriteOptions {
  format?: ConcurFormat;
  version?: ConcurVersion;
  /** Lists as the seed's examples show them: bare `<ConnectionRequest>` roots, no wrapper, no NextPage (XML only). */
  bareRoot?: boolean;
  statusCase?: StatusCase;
}

/** Concur's v3 error element, `Error{Message, Server-Time, Id}`. */
export interface ErrorBody {
  message: string;
  id: string;
  /** Concur's server time (ms), written without a zone. */
  serverTime: number;
}

/** The legacy exchange's answer: Instance_URL, Token, Expiration_Date (`3/30/2013 2:19:10 PM`), Refresh_Token. */
export interface AccessTokenBody {
  instanceUrl: string;
  token: string;
  expires: string;
  /** null: left out (the legacy refresh answer, under the `legacyRefreshToken: 'omit'` quirk). */
  refreshToken: string | null;
}

/**
 * The legacy User API's `UserProfile` (`GET /api/user/v1.0/User`), the fields the sandbox knows:
 * "The UserProfile elements will vary depending on the form configuration". null is an empty element.
 */
export interface UserProfileBody {
  loginId: string;
  firstName: string | null;
  lastName: string | null;
  /** The middle initial. */
  mi: string | null;
  empId: string;
  active: boolean;
}

type Field = readonly [name: string, key: keyof WireRecord];

/** What a field holds on the wire: text, null (`xsi:nil`, JSON null), or emailAddresses' named slots. */
export type WireValue = string | null | EmailSlots;

export type EmailSlots = ReadonlyArray<readonly [name: string, text: string | null]>;

/** emailAddresses' slots rather than text (Array.isArray does not narrow a readonly array). */
export function isSlots(value: WireValue): value is EmailSlots {
  return typeof value === 'object' && value !== null;
}

/** The order of the seed's examples (ID, URI, names, …, LastModified), not the data model's alphabetical one. */
const FIELDS_30: readonly Field[] = [
  ['ID', 'id'],
  ['URI', 'uri'],
  ['FirstName', 'firstName'],
  ['MiddleName', 'middleName'],
  ['LastName', 'lastName'],
  ['LoyaltyNumber', 'loyaltyNumber'],
  ['Status', 'status'],
  ['DiscountCode', 'discountCode'],
  ['RequestToken', 'requestToken'],
  ['Message', 'message'],
  ['LastModified', 'lastModified'],
];

/**
 * 3.2 as Concur's current page shows it: camelCase with ID and URI upper-case, no discountCode or
 * message (gone in 3.2), emailAddresses with all five slots, then userId. Its XML example puts ID
 * and URI first, its JSON example last; each format is written as its example.
 */
const FIELDS_32_BODY: readonly Field[] = [
  ['firstName', 'firstName'],
  ['middleName', 'middleName'],
  ['lastName', 'lastName'],
  ['loyaltyNumber', 'loyaltyNumber'],
  ['status', 'status'],
  ['requestToken', 'requestToken'],
  ['lastModified', 'lastModified'],
  ['emailAddresses', 'emailAddresses'],
  ['userId', 'userId'],
];
const IDS_32: readonly Field[] = [
  ['ID', 'id'],
  ['URI', 'uri'],
];
const FIELDS_32_XML: readonly Field[] = [...IDS_32, ...FIELDS_32_BODY];
const FIELDS_32_JSON: readonly Field[] = [...FIELDS_32_BODY, ...IDS_32];

/** Each field the version writes, by its name there (null stays null). */
export function wireFields(record: WireRecord, options: WriteOptions): Array<[name: string, value: WireValue]> {
  const fields = options.version !== '3.2' ? FIELDS_30 : options.format === 'json' ? FIELDS_32_JSON : FIELDS_32_XML;
  return fields.map(([name, key]) => [name, fieldValue(record, key, options.statusCase)]);
}

/** Concur writes all five slots, null for the empty ones (its examples do). */
function emailSlots(addresses: readonly string[]): ReadonlyArray<readonly [string, string | null]> {
  return [1, 2, 3, 4, 5].map((n) => [`email${n}`, addresses[n - 1] ?? null] as const);
}

function fieldValue(record: WireRecord, key: keyof WireRecord, statusCase: StatusCase = 'as-is'): WireValue {
  if (key === 'lastModified') return record.lastModified === null ? null : concurTime(record.lastModified);
  if (key === 'emailAddresses') return emailSlots(record.emailAddresses);
  if (key === 'status') {
    if (statusCase === 'lower') return record.status.toLowerCase();
    if (statusCase === 'upper') return record.status.toUpperCase();
  }
  return record[key];
}
