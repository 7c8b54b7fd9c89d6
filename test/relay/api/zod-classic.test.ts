import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import * as models from '../../../shared/models.js';
import * as connections from '../../../shared/connections.js';
import * as people from '../../../shared/people.js';
import * as roles from '../../../shared/roles.js';
import * as status from '../../../shared/status.js';
import { classicObject, toClassic } from '../../../relay/api/zod-classic.js';

/**
 * The classic copies of the shared zod/mini models (relay/api/zod-classic.ts) that the OpenAPI
 * layer names and validates with: classic all the way down, and parsing exactly as the models do.
 */

const T = '2024-05-01T12:00:00Z';
const reply = { status: 'CRSUC', state: 'queued', attempts: 0, lastError: null, updatedAt: T, requestedBy: 'Alice' };
const request = {
  id: 'A', uri: null, firstName: 'Ada', middleName: null, lastName: 'Lovelace', loyaltyNumber: 'LN-A', discountCode: null,
  status: 'Pending', group: 'pending', lastModified: T, firstSeenAt: T, requestTokenExpiresAt: null, retries: 0, retryLimit: 5, userErrors: 0, userErrorLimit: null, userId: null, emailAddresses: [], reply, connectionId: null, match: null,
};
const summary = { counts: { pending: 1, failed: 0, connected: 2 }, concur: { state: 'ok', lastPollAt: T, lastSuccessAt: null, lastError: null }, exchange: { state: 'ok', reason: null }, autoConnect: { policy: 'connect', directory: true } };
const webhook = { id: 'wh_1', url: 'https://x.example/h', events: ['request.created'], description: null, state: 'enabled', disabledReason: null, createdAt: T };
const delivery = { id: 'd', webhookId: 'wh_1', messageId: 'msg_1', type: 'webhook.test', state: 'pending', attempts: 0, lastStatus: null, lastError: null, nextAttemptAt: T, updatedAt: T };
const attempt = { attempt: 1, at: T, status: 200, durationMs: 3, responseBody: null, error: null, nextAttemptAt: null };

/** Valid values of many models, and near misses: every model is run over all of them. */
const valid: unknown[] = [
  T, 'queued', 'CRSUC', 'pending', 'request.created', reply, request, summary, summary.counts, webhook, delivery, attempt,
  { items: [request], nextCursor: 'c' }, { reply }, { status: 'CRSUC' }, { status: 'ok' }, { since: T }, { requeued: 2 },
  { error: { code: 'c', message: 'm', details: [1] } }, { webhook, secret: 'whsec_abc' }, { items: [webhook] },
  { ...delivery, createdAt: T, attemptLog: [attempt] }, { url: 'https://x.example/h', events: ['reply.sent'], description: 'd' },
  { type: 'request.created', timestamp: T, data: { a: 1 } }, { message: 'hi', webhook }, {}, { group: 'failed', limit: '20', cursor: 'x' },
  { state: 'failed', limit: '7' },
];
const nearMisses: unknown[] = [
  null, 7, '2024-05-01T12:00:00+02:00', 'Pending', { status: 'CRSUC', extra: 1 }, { ...reply, attempts: -1 }, { ...reply, attempts: 1.5 },
  { ...request, id: '' }, { ...request, reply: { ...reply, updatedAt: '2024-05-01' } }, { limit: '0' }, { limit: '201' }, { limit: 'x' },
  { cursor: '' }, { ...webhook, url: 'nope' }, { url: 'ftp://x.example', events: [] }, { webhook, secret: 'abc' }, { since: T, x: 1 },
  { ...attempt, attempt: 0 }, { items: [{ ...request, status: 'nope' }], nextCursor: null }, { state: 'enabled', url: 'http://x.example' },
];

const schemas = Object.entries<unknown>({ ...status, ...models, ...people, ...roles, ...connections }).filter(
  (entry): entry is [string, z.core.$ZodType] => typeof entry[1] === 'object' && entry[1] !== null && '_zod' in entry[1],
);

const outcome = (schema: { safeParse(input: unknown): { success: boolean; data?: unknown; error?: { issues: unknown[] } } }, input: unknown) => {
  const result = schema.safeParse(input);
  return result.success ? { data: result.data } : { issues: result.error?.issues };
};

describe('classic copies of the shared models', () => {
  it('exist for every shared schema, and are classic zod to the leaves', () => {
    expect(schemas.length).toBeGreaterThan(30);
    for (const [name, schema] of schemas) {
      const copy = toClassic(schema);
      expect(copy, name).toBeInstanceOf(z.ZodType);
      expect(copy.def.type, name).toBe(schema._zod.def.type);
      expect(copy, `${name} is copied once`).toBe(toClassic(schema));
    }
    const page = toClassic(models.RequestsPage) as z.ZodObject<{ items: z.ZodArray<z.ZodObject<{ reply: z.ZodNullable<z.ZodObject> }>> }>;
    const reply = page.shape.items.element.shape.reply;
    expect(reply).toBeInstanceOf(z.ZodNullable);
    expect(reply.unwrap()).toBeInstanceOf(z.ZodObject);
    expect(typeof reply.unwrap().meta).toBe('function');
  });

  it('parse every input as the shared models do: same data, same issues', () => {
    for (const [name, schema] of schemas) {
      const copy = toClassic(schema);
      for (const input of [...valid, ...nearMisses]) {
        expect(outcome(copy, input), `${name} on ${JSON.stringify(input)}`).toEqual(outcome(schema as unknown as z.ZodType, input));
      }
    }
  });

  it('keep defaults, coercion and strictness, and leave the models as they were', () => {
    const query = classicObject(models.RequestsQuery);
    expect(query.parse({})).toEqual({ limit: 50 });
    expect(query.parse({ limit: '7' })).toEqual({ limit: 7 });
    expect(classicObject(models.ReplyBody).safeParse({ status: 'CRSUC', extra: 1 }).success).toBe(false);
    expect(classicObject(models.ConnectionRequest).extend({ more: z.string() }).safeParse(request).success).toBe(false);
    expect(models.ConnectionRequest.safeParse(request).success).toBe(true);
    expect(models.RequestsQuery).not.toBeInstanceOf(z.ZodType);
  });
});
