import type { ConcurVersion, WireRecord } from './format/index.js';
import type { SandboxRequest } from './state.js';

/** A request as Concur puts it on the wire, the list's status filter, and the URLs of the resource. */

/** What the list's `status` filter accepts. `Retry` (Swagger's fifth value) = pending after a CRRET. */
export const STATUS_FILTERS = ['Pending', 'Processing', 'Connected', 'Failed', 'Retry'] as const;
export type StatusFilter = (typeof STATUS_FILTERS)[number];

export function parseStatusFilter(raw: string): StatusFilter | undefined {
  const wanted = raw.trim().toLowerCase();
  if (wanted === 'crret') return 'Retry';
  return STATUS_FILTERS.find((s) => s.toLowerCase() === wanted);
}

/** The record Concur would send for a request, with its URI built from the caller's own origin. */
export function toConcurRecord(request: SandboxRequest, origin: string, version: ConcurVersion): WireRecord {
  return {
    id: request.id,
    uri: resourceUri(origin, version, request.id),
    firstName: request.firstName,
    middleName: request.middleName,
    lastName: request.lastName,
    loyaltyNumber: request.loyaltyNumber,
    discountCode: request.discountCode,
    status: request.status,
    requestToken: request.requestToken,
    message: request.message,
    lastModified: request.lastModified,
    userId: request.userId,
    emailAddresses: request.emailAddresses,
  };
}

export function collectionUri(origin: string, version: ConcurVersion): string {
  return `${origin}/api/v${version}/common/connectionrequests`;
}

export function resourceUri(origin: string, version: ConcurVersion, id: string): string {
  return `${collectionUri(origin, version)}/${encodeURIComponent(id)}`;
}
