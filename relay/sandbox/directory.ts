import { createHmac, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { MatchRequest, type MatchAnswer, type MatchResult } from '../../shared/match.js';
import type { SandboxEnv } from './context.js';
import type { SandboxRequest, SandboxState } from './state.js';

/**
 * A demo member directory: what a partner puts behind RELAY_MATCH_URL, so that sandbox mode shows
 * auto-connect end to end. It is the partner's side, not Concur's; it lives here because it knows
 * the sandbox's travellers. Like the rest of the sandbox it has its own code: it checks the
 * Standard Webhooks signature itself (HMAC-SHA256 over `id.timestamp.body`, five minutes of
 * tolerance), so a signing bug in the relay cannot hide on both sides.
 *
 * Its answers are deterministic, by what it knows of the request:
 * - a request it does not know, or a loyalty number other than the one Concur holds → not_found;
 * - a first or last name other than Concur's → name_mismatch;
 * - otherwise by the request's place in Concur's queue, in tens: 1st, 2nd, 4th, 6th, 8th, 10th
 *   member (memberId `TL-<loyalty number>`), 3rd not_found, 5th name_mismatch, 7th unknown, 9th
 *   needs_verification. The twelve seeded requests show every answer, so a demo shows all the
 *   paths (connected by itself, waiting with the directory's reason, unknown) within a minute.
 */

const PREFIX = 'whsec_';
const TOLERANCE_SECONDS = 5 * 60;
const CYCLE: readonly MatchResult[] = [
  'member',
  'member',
  'not_found',
  'member',
  'name_mismatch',
  'member',
  'unknown',
  'member',
  'needs_verification',
  'member',
];

/** One call as the directory saw it: for the control API and tests. */
export interface DirectoryCall {
  at: string;
  requestId: string | null;
  /** `bad`: refused with 401 before it was read. */
  signature: 'ok' | 'bad';
  result: MatchResult | null;
}

export class DemoDirectory {
  readonly #key: Buffer | null;
  #calls: DirectoryCall[] = [];

  /** `secret`: `whsec_…`, the one the relay signs with; none: the directory answers 404. */
  constructor(secret?: string) {
    this.#key = secret === undefined ? null : Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
  }

  get configured(): boolean {
    return this.#key !== null;
  }

  calls(): DirectoryCall[] {
    return [...this.#calls];
  }

  clear(): void {
    this.#calls = [];
  }

  /** Whether the Standard Webhooks headers sign `body` with the secret, within the tolerance of `nowMs`. */
  verify(headers: { id?: string; timestamp?: string; signature?: string }, body: string, nowMs: number): boolean {
    const { id, timestamp, signature } = headers;
    if (this.#key === null || !id || !timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
    if (Math.abs(nowMs / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return false;
    const expected = createHmac('sha256', this.#key).update(`${id}.${timestamp}.${body}`, 'utf8').digest();
    return signature.split(' ').some((part) => {
      const [version, value] = part.split(',', 2);
      if (version !== 'v1' || value === undefined) return false;
      const given = Buffer.from(value, 'base64');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  }

  /** The answer about the traveller in `data`, from what Concur (the sandbox) holds. */
  answer(data: MatchRequest['data'], known: SandboxRequest | undefined): MatchAnswer {
    if (known === undefined || known.loyaltyNumber === null || data.loyaltyNumber !== known.loyaltyNumber) {
      return { result: 'not_found', note: 'no member has this loyalty number' };
    }
    if (data.firstName !== known.firstName || data.lastName !== known.lastName) {
      return { result: 'name_mismatch', note: 'the loyalty number belongs to a member of another name' };
    }
    const result = CYCLE[(known.seq - 1) % CYCLE.length]!;
    switch (result) {
      case 'member':
        return { result, memberId: `TL-${known.loyaltyNumber}` };
      case 'not_found':
        return { result, note: 'no member has this loyalty number' };
      case 'name_mismatch':
        return { result, note: 'the loyalty number belongs to a member of another name' };
      case 'needs_verification':
        return { result, note: 'the member has not verified this loyalty number yet' };
      case 'unknown':
        return { result, note: 'the member system is being maintained; ask again later' };
    }
  }

  record(call: DirectoryCall): void {
    this.#calls.push(call);
  }
}

const error = (code: string, message: string) => ({ error: { code, message } });

/** `POST /_sandbox/directory` (signed, the relay's question) and `GET /_sandbox/directory` (the calls it got). */
export function directoryRoutes(directory: DemoDirectory, state: SandboxState): Hono<SandboxEnv> {
  const app = new Hono<SandboxEnv>();
  app.get('/', (c) => c.json({ configured: directory.configured, calls: directory.calls() }));
  app.post('/', async (c) => {
    if (!directory.configured) {
      return c.json(error('not_found', 'This sandbox has no member directory: start it with a directory secret.'), 404);
    }
    const body = await c.req.text();
    const at = new Date().toISOString();
    const signed = { id: c.req.header('webhook-id'), timestamp: c.req.header('webhook-timestamp'), signature: c.req.header('webhook-signature') };
    // Real time, not the sandbox's clock: the relay signs with its own.
    if (!directory.verify(signed, body, Date.now())) {
      directory.record({ at, requestId: null, signature: 'bad', result: null });
      return c.json(error('bad_signature', 'The webhook-signature does not match this directory’s secret (or the timestamp is too far off).'), 401);
    }
    let parsed: ReturnType<typeof MatchRequest.safeParse>;
    try {
      parsed = MatchRequest.safeParse(JSON.parse(body));
    } catch {
      return c.json(error('bad_request', 'The body is not JSON.'), 400);
    }
    if (!parsed.success) return c.json(error('bad_request', 'The body is not a match.request.'), 400);
    const answer = directory.answer(parsed.data.data, state.get(parsed.data.data.requestId));
    directory.record({ at, requestId: parsed.data.data.requestId, signature: 'ok', result: answer.result });
    return c.json(answer, 200);
  });
  return app;
}
