import { REQUEST_TOKEN_TTL_MS, REQUEUE_AFTER_MS, RETRY_LIMITS, isUserErrorCode, type ApiVersion, type ReplyCode } from '../../shared/status.js';
import type { Clock } from './clock.js';
import { isoTime } from './clock.js';
import { Random, offsetToken, requestToken } from './random.js';
import type { StatusFilter } from './records.js';
import { type RequestView, requestView } from './request-view.js';
import { type RequestFields, generateRequest, seedRequests } from './seed.js';

/**
 * The connection requests Concur holds, and how a partner's replies move them:
 *
 *   Pending ──a GET hands its token out (quirk `processing: 'token'`, the default)──▶ Processing
 *   Pending ──exchange──▶ Processing
 *   Pending|Processing ──CRSUC──▶ Connected
 *   Pending|Processing ──CREU1/2/3, CRPA1/2──▶ Failed (3.2: CREU pops it for a day, 4 times, then Failed)
 *   Pending|Processing ──CRRET──▶ Pending (new request token, retries + 1; 3.2: popped for an hour);
 *                                 one CRRET over the version's limit (5; 3.2: 48) ──▶ Failed
 *   Connected|Failed ──any reply──▶ refused (400); with `repeat: 'accept'` a repeat of the reply
 *                                   that got it there answers 204 and changes nothing
 */

/** The states Concur itself keeps; the reply codes are what a partner sends to move between them. */
export const SANDBOX_STATUSES = ['Pending', 'Processing', 'Connected', 'Failed'] as const;
export type SandboxStatus = (typeof SANDBOX_STATUSES)[number];

export interface SandboxRequest extends RequestFields {
  /** Position in Concur's queue; offsets point between positions, so a PUT never makes a page skip. */
  readonly seq: number;
  status: SandboxStatus;
  /** The last reply code the partner sent, if any. */
  lastReply: ReplyCode | null;
  retries: number;
  requestTokenIssuedAt: number;
  /** Exchanged for an access token already (a request token works once). */
  requestTokenUsed: boolean;
  createdAt: number;
  /** PUTs this request accepted (each would be a 204), repeats included: what "sent twice" is measured by. */
  successfulPuts: number;
  /** 3.2: CREU replies that requeued it (at most RETRY_LIMITS['3.2'].CREU). */
  userErrors: number;
  /** 3.2: popped by a CRRET or CREU until then (ms), when it is back in the queue; null when in it. */
  poppedUntil: number | null;
}

export type ReplyOutcome =
  | { ok: true; request: SandboxRequest; from: SandboxStatus; repeated: boolean }
  | { ok: false; reason: 'not_found' | 'final'; message: string };

export type ExchangeOutcome =
  | { ok: true; request: SandboxRequest }
  | { ok: false; reason: 'unknown' | 'not_yours' | 'expired' | 'used'; message: string };

export class DuplicateIdError extends Error {
  constructor(readonly id: string) {
    super(`a connection request with ID ${id} already exists`);
  }
}

export type NewRequest = Partial<Omit<RequestFields, 'lastModified'>> & {
  lastModified?: number;
  status?: SandboxStatus;
  retries?: number;
};

export class SandboxState {
  readonly #requests = new Map<string, SandboxRequest>();
  /** The same requests in queue order (ascending seq): a page starts with a binary search, not a scan. */
  #queue: SandboxRequest[] = [];
  readonly #byToken = new Map<string, string>();
  readonly #offsets = new Map<string, number>();
  readonly #offsetBySeq = new Map<number, string>();
  #seq = 0;
  #random: Random;
  #revision = 0;

  constructor(
    private readonly clock: Clock,
    /** The PRNG seed for generated data: the same seed gives the same travellers. */
    readonly randomSeed: number,
    /** Generated IDs as 3.0 shows them (28 characters) or as 3.2 does (GUIDs). */
    readonly ids: 'legacy' | 'guid' = 'legacy',
    /** How long a request token lives (the `requestTokenLifetime` quirk): read at every check. */
    private readonly tokenLifetimeMs: () => number = () => REQUEST_TOKEN_TTL_MS,
  ) {
    this.#random = new Random(randomSeed);
  }

  get size(): number {
    return this.#requests.size;
  }

  /**
   * Moves whenever a request may have entered or left 3.2's queue (added, answered, requeued,
   * cleared), so a reader may keep what it derived from the queue until it moves or the clock
   * returns a popped request (queue32.ts).
   */
  get revision(): number {
    return this.#revision;
  }

  /** Empties the queue and restarts the data generator from its seed; old offsets stop working. */
  clear(): void {
    this.#requests.clear();
    this.#queue = [];
    this.#byToken.clear();
    this.#offsets.clear();
    this.#offsetBySeq.clear();
    this.#seq = 0;
    this.#random = new Random(this.randomSeed);
    this.#revision++;
  }

  /** Adds `count` realistic pending requests, spread over the last hours. */
  seed(count: number): SandboxRequest[] {
    return seedRequests(this.#random, this.clock.now(), count).map((fields) => this.#insert({ ...fields, id: this.#idFor(fields) }, {}));
  }

  /** Adds one request; fields not given are generated (status Pending, modified now). */
  add(input: NewRequest = {}): SandboxRequest {
    if (input.id !== undefined && this.#requests.has(input.id)) throw new DuplicateIdError(input.id);
    const generated = generateRequest(this.#random, this.clock.now());
    const fields: RequestFields = {
      id: input.id ?? this.#idFor(generated),
      userId: input.userId ?? generated.userId,
      firstName: input.firstName !== undefined ? input.firstName : generated.firstName,
      middleName: input.middleName !== undefined ? input.middleName : generated.middleName,
      lastName: input.lastName !== undefined ? input.lastName : generated.lastName,
      loyaltyNumber: input.loyaltyNumber !== undefined ? input.loyaltyNumber : generated.loyaltyNumber,
      discountCode: input.discountCode !== undefined ? input.discountCode : generated.discountCode,
      message: input.message !== undefined ? input.message : generated.message,
      emailAddresses: input.emailAddresses ?? generated.emailAddresses,
      requestToken: input.requestToken ?? generated.requestToken,
      lastModified: input.lastModified ?? generated.lastModified,
    };
    return this.#insert(fields, input);
  }

  /** A generated request's ID; a GUID drawn only in that mode, so a 3.0 seed gives what it always gave. */
  #idFor(generated: RequestFields): string {
    return this.ids === 'guid' ? this.#random.guid() : generated.id;
  }

  #insert(fields: RequestFields, extra: { status?: SandboxStatus; retries?: number }): SandboxRequest {
    if (this.#requests.has(fields.id)) throw new DuplicateIdError(fields.id);
    const request: SandboxRequest = {
      ...fields,
      seq: ++this.#seq,
      status: extra.status ?? 'Pending',
      lastReply: null,
      retries: extra.retries ?? 0,
      requestTokenIssuedAt: fields.lastModified,
      requestTokenUsed: extra.status !== undefined && extra.status !== 'Pending',
      createdAt: this.clock.now(),
      successfulPuts: 0,
      userErrors: 0,
      poppedUntil: null,
    };
    this.#requests.set(request.id, request);
    this.#queue.push(request);
    this.#byToken.set(request.requestToken, request.id);
    this.#revision++;
    return request;
  }

  get(id: string): SandboxRequest | undefined {
    return this.#requests.get(id);
  }

  /** Every request, in queue order. */
  all(): SandboxRequest[] {
    return [...this.#requests.values()];
  }

  /** Every request in insertion order, without copying them (a queue page walks thousands). */
  values(): IterableIterator<SandboxRequest> {
    return this.#requests.values();
  }

  matches(request: SandboxRequest, filter: StatusFilter): boolean {
    if (filter === 'Retry') return (request.status === 'Pending' || request.status === 'Processing') && request.retries > 0;
    return request.status === filter;
  }

  /** One page: up to `limit` matching requests queued after `afterSeq`, and whether more follow. */
  page(filter: StatusFilter, afterSeq: number, limit: number): { items: SandboxRequest[]; more: boolean } {
    const items: SandboxRequest[] = [];
    const queue = this.#queue;
    // The first request queued after afterSeq (seq only grows, so the queue is sorted by it).
    let low = 0;
    let high = queue.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (queue[mid]!.seq <= afterSeq) low = mid + 1;
      else high = mid;
    }
    for (let i = low; i < queue.length; i++) {
      const request = queue[i]!;
      if (!this.matches(request, filter)) continue;
      if (items.length === limit) return { items, more: true };
      items.push(request);
    }
    return { items, more: false };
  }

  /** The opaque offset that continues after `seq`; the same position always gets the same token. */
  offsetAfter(seq: number): string {
    let token = this.#offsetBySeq.get(seq);
    if (token === undefined) {
      token = offsetToken();
      this.#offsetBySeq.set(seq, token);
      this.#offsets.set(token, seq);
    }
    return token;
  }

  /** The position an offset stands for, or undefined when this sandbox never issued it. */
  resolveOffset(token: string): number | undefined {
    return this.#offsets.get(token);
  }

  requestTokenExpiresAt(request: SandboxRequest): number {
    return request.requestTokenIssuedAt + this.tokenLifetimeMs();
  }

  isRequestTokenExpired(request: SandboxRequest): boolean {
    return this.clock.now() >= this.requestTokenExpiresAt(request);
  }

  /**
   * A GET handed the request's token to the partner: Concur has generated it for them, so the
   * request is Processing from now on (seed, Example 4). lastModified stays: nobody changed the
   * request, and the seed does not say that this counts as a change.
   */
  handedOut(request: SandboxRequest): void {
    if (request.status === 'Pending' && !this.isPopped(request)) request.status = 'Processing';
  }

  /** Applies a partner's reply (a PUT). `repeat`: the `repeatReplies` quirk. */
  reply(id: string, code: ReplyCode, repeat: 'refuse' | 'accept' = 'refuse', version: ApiVersion = '3.0'): ReplyOutcome {
    const request = this.#requests.get(id);
    if (!request) return { ok: false, reason: 'not_found', message: `Connection request ${id} was not found.` };
    const from = request.status;
    if (this.isPopped(request)) {
      return { ok: false, reason: 'final', message: `Connection request ${id} is not in the queue; it is returned again at ${isoTime(request.poppedUntil!)}.` };
    }
    if (from === 'Connected' || from === 'Failed') {
      if (repeat === 'accept' && request.lastReply === code) {
        request.successfulPuts += 1;
        return { ok: true, request, from, repeated: true };
      }
      return {
        ok: false,
        reason: 'final',
        message: `Connection request ${id} is already ${from}; its status can no longer be changed.`,
      };
    }
    const now = this.clock.now();
    this.#revision++;
    request.lastReply = code;
    request.lastModified = now;
    const limits = RETRY_LIMITS[version];
    if (code === 'CRSUC') {
      request.status = 'Connected';
    } else if (code === 'CRRET') {
      if (request.retries >= limits.CRRET) {
        // One retry too many: Concur gives up on this user. The PUT itself is still accepted (204).
        request.status = 'Failed';
      } else {
        request.retries += 1;
        // 3.2 pops it and returns it an hour later, with the new token issued then.
        this.#requeue(request, version === '3.2' ? now + REQUEUE_AFTER_MS.CRRET : now);
      }
    } else if (isUserErrorCode(code) && limits.CREU !== null && request.userErrors < limits.CREU) {
      // 3.2: the traveller is e-mailed and may fix their data; the request comes back a day later.
      request.userErrors += 1;
      this.#requeue(request, now + REQUEUE_AFTER_MS.CREU);
    } else {
      request.status = 'Failed';
    }
    request.successfulPuts += 1;
    return { ok: true, request, from, repeated: false };
  }

  /** Pending again at `at` (now: at once), with a new request token issued then; popped until then. */
  #requeue(request: SandboxRequest, at: number): void {
    request.status = 'Pending';
    request.poppedUntil = at > this.clock.now() ? at : null;
    this.reissueToken(request, at);
  }

  /** A new request token, issued at `at`; the old one stops working (the `tokenOnGet` quirk, a requeue). */
  reissueToken(request: SandboxRequest, at = this.clock.now()): void {
    this.#byToken.delete(request.requestToken);
    request.requestToken = requestToken(this.#random);
    request.requestTokenIssuedAt = at;
    request.requestTokenUsed = false;
    this.#byToken.set(request.requestToken, request.id);
  }

  /** 3.2: taken out of the queue by a PUT and not yet returned to it. */
  /** `now`: the sandbox clock's time, when the caller asks about many requests at one moment. */
  isPopped(request: SandboxRequest, now?: number): boolean {
    return request.poppedUntil !== null && (now ?? this.clock.now()) < request.poppedUntil;
  }

  get now(): number {
    return this.clock.now();
  }

  /**
   * The exchange of a request token for the user's tokens, one rule for both forms (the legacy
   * getaccesstoken.ashx and the password grant): once, within its lifetime, while Pending or
   * Processing (its token handed out, not yet used); it moves the request to Processing. `forUser`: the password grant's username, which must be the
   * request's userId (a token stolen from another user's request is refused, not spent).
   */
  exchange(token: string, forUser?: string): ExchangeOutcome {
    const id = this.#byToken.get(token);
    const request = id === undefined ? undefined : this.#requests.get(id);
    // 3.2: a popped request's next token is issued when it is back in the queue; until then Concur has issued none.
    if (!request || this.isPopped(request)) return { ok: false, reason: 'unknown', message: 'Invalid request token.' };
    if (forUser !== undefined && forUser !== request.userId) {
      return { ok: false, reason: 'not_yours', message: 'Authtoken was not issued for you' };
    }
    if (this.isRequestTokenExpired(request)) {
      const lifetime = this.tokenLifetimeMs() >= 3_600_000 ? `${this.tokenLifetimeMs() / 3_600_000} hours` : `${this.tokenLifetimeMs() / 60_000} minutes`;
      return { ok: false, reason: 'expired', message: `The request token expired: it was issued more than ${lifetime} ago.` };
    }
    if (request.requestTokenUsed || (request.status !== 'Pending' && request.status !== 'Processing')) {
      return { ok: false, reason: 'used', message: 'The request token has already been used.' };
    }
    request.requestTokenUsed = true;
    request.status = 'Processing';
    request.lastModified = this.clock.now();
    return { ok: true, request };
  }

  view(request: SandboxRequest): RequestView {
    return requestView(this, request);
  }
}
