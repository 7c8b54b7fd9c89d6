import type { ReplyCode } from '../../shared/status.js';

/**
 * The one body the relay writes to Concur: the PUT that replies to a connection request. Swagger
 * says only the fields sent are updated, so Status alone is enough; the root and its namespaces
 * are the seed's PUT examples'. (What Concur writes back is the sandbox's business: relay/sandbox/format/.)
 */

const XMLNS =
  'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"';

/** API 3.2's PUT body, as its example: `{"status": "CRSUC"}` (camelCase, Content-Type application/json). */
export function encodeStatusUpdateJson(status: ReplyCode): string {
  return JSON.stringify({ status });
}

export function encodeStatusUpdate(status: ReplyCode): string {
  // A reply code is five letters and digits: nothing in it needs escaping.
  return `<?xml version="1.0" encoding="utf-8"?><ConnectionRequest ${XMLNS}><Status>${status}</Status></ConnectionRequest>`;
}
