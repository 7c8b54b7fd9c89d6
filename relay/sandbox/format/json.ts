import { type AccessTokenBody, type ErrorBody, type UserProfileBody, type WireRecord, type WriteOptions, isSlots, wireFields } from './wire.js';
import { concurTime } from './time.js';

/**
 * Concur's JSON, for callers that send `Accept: application/json`. 3.0 has no literal JSON example;
 * its Swagger model is `{"Items":[{FirstName, ID, …}], "NextPage": string}`, so the fields keep the
 * XML names and order. v3.2 documents `"NextPage": null` at the end of the list, and both versions
 * write it that way here. GET by id answers the bare object; errors are `{"Error":{Message, Server-Time, Id}}`.
 */

type JsonValue = string | null | Record<string, string | null>;

function requestObject(record: WireRecord, options: WriteOptions): Record<string, JsonValue> {
  return Object.fromEntries(
    wireFields(record, options).map(([name, value]) => [name, isSlots(value) ? Object.fromEntries(value) : value] as const),
  );
}

export function recordJson(record: WireRecord, options: WriteOptions = {}): string {
  return JSON.stringify(requestObject(record, options));
}

export function pageJson(records: readonly WireRecord[], nextPage: string | null, options: WriteOptions = {}): string {
  return JSON.stringify({ Items: records.map((record) => requestObject(record, options)), NextPage: nextPage });
}

export function errorJson(error: ErrorBody): string {
  return JSON.stringify({ Error: { Message: error.message, 'Server-Time': concurTime(error.serverTime), Id: error.id } });
}

/** The keys as Concur's own SDK reads them (`Instance_Url`, `Expiration_date`), not as the XML spells them. */
export function accessTokenJson(answer: AccessTokenBody): string {
  return JSON.stringify({
    Access_Token: {
      Instance_Url: answer.instanceUrl,
      Token: answer.token,
      Expiration_date: answer.expires,
      ...(answer.refreshToken === null ? {} : { Refresh_Token: answer.refreshToken }),
    },
  });
}

/** The XML's element names as keys (the JS SDK asks the User API for JSON); null stays null. */
export function userProfileJson(profile: UserProfileBody): string {
  return JSON.stringify({
    LoginId: profile.loginId,
    FirstName: profile.firstName,
    LastName: profile.lastName,
    Mi: profile.mi,
    EmpId: profile.empId,
    Active: profile.active ? 'Y' : 'N',
  });
}
