import { createHmac } from 'node:crypto';

/**
 * Standard Webhooks signing, for webhooks and for the member directory's questions alike (spec: standard-webhooks.md, "Signature scheme"): HMAC-SHA256, keyed
 * with the base64-decoded part of a `whsec_` secret, over `${id}.${timestamp}.${body}`, written as
 * `v1,<base64>`. With several secrets (the current one and rotated ones still valid) the
 * signatures are space-separated, the current one first; a receiver accepts any that matches.
 */

const PREFIX = 'whsec_';

/** The key bytes of a `whsec_…` secret. */
function secretKey(secret: string): Buffer {
  const base64 = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  const key = Buffer.from(base64, 'base64');
  if (key.length === 0) throw new RangeError('a webhook secret must not be empty');
  return key;
}

/** `v1,<base64 signature>` for one secret. */
export function sign(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  if (messageId.includes('.')) throw new RangeError('a webhook message id must not contain "."');
  const mac = createHmac('sha256', secretKey(secret)).update(`${messageId}.${timestampSeconds}.${body}`, 'utf8').digest('base64');
  return `v1,${mac}`;
}

/** The webhook-signature header value for all `secrets`, in the order given. */
export function signatureHeader(secrets: readonly string[], messageId: string, timestampSeconds: number, body: string): string {
  return secrets.map((secret) => sign(secret, messageId, timestampSeconds, body)).join(' ');
}
