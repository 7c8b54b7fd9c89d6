import { accessTokenJson, errorJson, pageJson, recordJson, userProfileJson } from './json.js';
import type { AccessTokenBody, ConcurFormat, ErrorBody, UserProfileBody, WireRecord, WriteOptions } from './wire.js';
import { accessTokenXml, errorXml, pageXml, recordXml, userProfileXml } from './xml.js';

/** Concur's bodies in the negotiated format. XML is the default, as Concur's is without an Accept header. */

export type { AccessTokenBody, ConcurFormat, ConcurVersion, ErrorBody, StatusCase, UserProfileBody, WireRecord, WriteOptions } from './wire.js';
export { concurTime } from './time.js';

/** One connection request, as GET by id answers it. */
export function writeRecord(record: WireRecord, options: WriteOptions = {}): string {
  return options.format === 'json' ? recordJson(record, options) : recordXml(record, options);
}

/** A page of the list, with Concur's absolute NextPage URL (null at the end). */
export function writePage(records: readonly WireRecord[], nextPage: string | null, options: WriteOptions = {}): string {
  return options.format === 'json' ? pageJson(records, nextPage, options) : pageXml(records, nextPage, options);
}

export function writeError(error: ErrorBody, format: ConcurFormat = 'xml'): string {
  return format === 'json' ? errorJson(error) : errorXml(error);
}

export function writeAccessToken(answer: AccessTokenBody, format: ConcurFormat = 'xml'): string {
  return format === 'json' ? accessTokenJson(answer) : accessTokenXml(answer);
}

export function writeUserProfile(profile: UserProfileBody, format: ConcurFormat = 'xml'): string {
  return format === 'json' ? userProfileJson(profile) : userProfileXml(profile);
}
