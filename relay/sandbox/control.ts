import { Hono } from 'hono';
import type { Context } from 'hono';
import { z } from 'zod';
import { RETRY_LIMITS } from '../../shared/status.js';
import { isoTime } from './clock.js';
import { QuirksPatch, type SandboxContext, type SandboxEnv } from './context.js';
import { FaultSpec } from './faults.js';
import { DuplicateIdError, type NewRequest, SANDBOX_STATUSES, type SandboxStatus } from './state.js';

/**
 * The control API under /_sandbox/: no auth, JSON in and out, every body checked with zod.
 * Errors are `{"error":{"code","message"}}`, the relay API's own shape.
 */

const MAX_BATCH = 500;

const Text = z.string().max(200);
const NullableText = Text.nullable();

const SandboxStatusInput = z
  .string()
  .transform((value, ctx): SandboxStatus => {
    const found = SANDBOX_STATUSES.find((s) => s.toLowerCase() === value.trim().toLowerCase());
    if (found) return found;
    ctx.addIssue({ code: 'custom', message: `must be one of ${SANDBOX_STATUSES.join(', ')}` });
    return z.NEVER;
  });

export const NewRequestInput = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, "-" or "_" (it goes into a URL path)')
      .optional(),
    userId: z.string().min(1).max(64).optional(),
    firstName: NullableText.optional(),
    middleName: NullableText.optional(),
    lastName: NullableText.optional(),
    loyaltyNumber: z.string().max(40).nullable().optional(),
    discountCode: NullableText.optional(),
    message: NullableText.optional(),
    emailAddresses: z.array(z.string().min(3).max(254)).max(5).optional(),
    requestToken: z.string().regex(/^[A-Za-z0-9]{8,64}$/, 'must be 8 to 64 letters or digits').optional(),
    status: SandboxStatusInput.optional(),
    // Up to 3.2's limit: a 3.0 request with more than 5 is refused at its next CRRET anyway.
    retries: z.number().int().min(0).max(RETRY_LIMITS['3.2'].CRRET).optional(),
    /** Also when the request token was issued: set it in the past to get an expired token. */
    lastModified: z.iso.datetime({ offset: true, error: 'must be an ISO-8601 time, e.g. 2024-05-01T12:00:00Z' }).optional(),
  })
  .strict();

const RequestList = z.array(NewRequestInput).min(1).max(MAX_BATCH);
const RequestCount = z.object({ count: z.number().int().min(1).max(MAX_BATCH) }).strict();

const ClockBody = z
  .object({ advanceSeconds: z.number().min(0).max(10 * 365 * 24 * 3600) })
  .strict();

/**
 * `tokens`: whose access tokens expire: the app's OAuth 2.0 tokens (`app`, the default, as before
 * travellers had tokens), the travellers' (`users`), or both (`all`). `userId` narrows the
 * travellers' to one (and implies `users`). Refresh tokens are left alone: the clock expires those.
 */
const ExpireBody = z
  .object({
    includeStatic: z.boolean().optional(),
    tokens: z.enum(['app', 'users', 'all']).optional(),
    userId: z.string().min(1).max(64).optional(),
  })
  .strict()
  .refine((body) => body.userId === undefined || body.tokens !== 'app', { message: 'userId names a traveller: use it without tokens: "app"' });

const ResetBody = z.object({ seed: z.union([z.boolean(), z.number().int().min(0).max(1000)]).optional() }).strict();

type JsonError = { error: { code: string; message: string } };

function jsonError(c: Context<SandboxEnv>, status: 400 | 404 | 409, code: string, message: string) {
  return c.json<JsonError>({ error: { code, message } }, status);
}

type Checked<T> = { ok: true; data: T } | { ok: false; response: Response };

/** Reads a JSON body; an empty body counts as `{}` when `emptyOk`. */
async function readJson(c: Context<SandboxEnv>, emptyOk = false): Promise<Checked<unknown>> {
  const text = await c.req.text();
  if (text.trim() === '') {
    if (emptyOk) return { ok: true, data: {} };
    return { ok: false, response: jsonError(c, 400, 'invalid_body', 'The request body must be JSON; it was empty.') };
  }
  try {
    return { ok: true, data: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, response: jsonError(c, 400, 'invalid_body', 'The request body is not valid JSON.') };
  }
}

function check<T extends z.ZodType>(c: Context<SandboxEnv>, schema: T, value: unknown): Checked<z.output<T>> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) return { ok: false, response: jsonError(c, 400, 'invalid_body', z.prettifyError(parsed.error)) };
  return { ok: true, data: parsed.data };
}

/** Reads a JSON body and checks it against `schema`. */
async function readBody<T extends z.ZodType>(c: Context<SandboxEnv>, schema: T, emptyOk = false): Promise<Checked<z.output<T>>> {
  const json = await readJson(c, emptyOk);
  return json.ok ? check(c, schema, json.data) : json;
}

function toNewRequest(input: z.output<typeof NewRequestInput>): NewRequest {
  const { lastModified, ...rest } = input;
  return { ...rest, ...(lastModified === undefined ? {} : { lastModified: Date.parse(lastModified) }) };
}

export function controlRoutes(ctx: SandboxContext): Hono<SandboxEnv> {
  const control = new Hono<SandboxEnv>();

  control.get('/', (c) => c.json(ctx.info()));

  control.get('/requests', (c) =>
    c.json({ now: isoTime(ctx.clock.now()), requests: ctx.state.all().map((r) => ctx.state.view(r)) }),
  );

  control.get('/requests/:id', (c) => {
    const request = ctx.state.get(c.req.param('id'));
    if (!request) return jsonError(c, 404, 'not_found', `There is no connection request ${c.req.param('id')}.`);
    return c.json({ request: ctx.state.view(request) });
  });

  control.post('/requests', async (c) => {
    // One request, a list of them, or `{count}` generated ones: picked by shape so errors stay readable.
    const json = await readJson(c);
    if (!json.ok) return json.response;
    const value = json.data;
    let inputs: NewRequest[];
    if (Array.isArray(value)) {
      const list = check(c, RequestList, value);
      if (!list.ok) return list.response;
      inputs = list.data.map(toNewRequest);
    } else if (typeof value === 'object' && value !== null && 'count' in value) {
      const count = check(c, RequestCount, value);
      if (!count.ok) return count.response;
      inputs = Array.from({ length: count.data.count }, () => ({}));
    } else {
      const one = check(c, NewRequestInput, value);
      if (!one.ok) return one.response;
      inputs = [toNewRequest(one.data)];
    }
    const ids = inputs.map((input) => input.id).filter((id): id is string => id !== undefined);
    const duplicate = ids.find((id, index) => ids.indexOf(id) !== index || ctx.state.get(id) !== undefined);
    if (duplicate !== undefined) {
      return jsonError(c, 409, 'conflict', `A connection request with ID ${duplicate} already exists.`);
    }
    try {
      const added = inputs.map((input) => ctx.state.add(input));
      return c.json({ requests: added.map((r) => ctx.state.view(r)) }, 201);
    } catch (err) {
      if (err instanceof DuplicateIdError) return jsonError(c, 409, 'conflict', err.message);
      throw err;
    }
  });

  control.get('/calls', (c) => c.json({ calls: ctx.calls.list() }));
  control.delete('/calls', (c) => c.json({ cleared: ctx.calls.clear() }));

  control.get('/quirks', (c) => c.json({ quirks: ctx.quirks }));
  control.put('/quirks', async (c) => {
    const body = await readBody(c, QuirksPatch);
    if (!body.ok) return body.response;
    for (const [key, value] of Object.entries(body.data)) {
      if (value !== undefined) Object.assign(ctx.quirks, { [key]: value });
    }
    return c.json({ quirks: ctx.quirks });
  });

  control.get('/faults', (c) => c.json({ faults: ctx.faults.list() }));
  control.post('/faults', async (c) => {
    const body = await readBody(c, FaultSpec);
    if (!body.ok) return body.response;
    return c.json({ fault: ctx.faults.add(body.data) }, 201);
  });
  control.delete('/faults', (c) => c.json({ cleared: ctx.faults.clear() }));

  control.get('/clock', (c) => c.json({ now: isoTime(ctx.clock.now()) }));
  control.post('/clock', async (c) => {
    const body = await readBody(c, ClockBody);
    if (!body.ok) return body.response;
    ctx.clock.advance(body.data.advanceSeconds * 1000);
    return c.json({ now: isoTime(ctx.clock.now()) });
  });

  control.post('/tokens/expire', async (c) => {
    const body = await readBody(c, ExpireBody, true);
    if (!body.ok) return body.response;
    const { includeStatic, userId } = body.data;
    const tokens = body.data.tokens ?? (userId === undefined ? 'app' : 'users');
    let expired = tokens === 'users' ? 0 : ctx.auth.expireAll({ includeStatic });
    if (tokens !== 'app') expired += ctx.users.expireAccess(userId);
    return c.json({ expired });
  });

  // The travellers' tokens the sandbox issued, as grants: never a token value.
  control.get('/users', (c) => c.json({ now: isoTime(ctx.clock.now()), grants: ctx.users.all().map((g) => ctx.users.view(g)) }));
  control.get('/users/:userId', (c) => {
    const userId = c.req.param('userId');
    const grants = ctx.users.all().filter((g) => g.traveller.userId === userId);
    if (grants.length === 0) return jsonError(c, 404, 'not_found', `No tokens were issued for user ${userId}.`);
    return c.json({ now: isoTime(ctx.clock.now()), grants: grants.map((g) => ctx.users.view(g)) });
  });

  control.post('/reset', async (c) => {
    const body = await readBody(c, ResetBody, true);
    if (!body.ok) return body.response;
    ctx.reset(body.data);
    return c.json({ requests: ctx.state.size });
  });

  return control;
}
