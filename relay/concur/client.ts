import type { ReplyCode } from '../../shared/status.js';
import type { TokenProvider } from './auth.js';
import { CONCUR_MAX_PAGE, bodyBudget } from './bounds.js';
import { DEFAULT_MAX_BODY_BYTES, type DecodeOptions, decodeBody, decodeRecord, readPage } from './decode.js';
import { builtPage, type PageReading } from './decode-record.js';
import { encodeStatusUpdate, encodeStatusUpdateJson } from './encode.js';
import { ConcurError } from './errors.js';
import { type HttpResponse, parseRetryAfter, send } from './http.js';
import { AllowedOrigins, whereTo } from './origins.js';
import { QueueGate } from './queue-gate.js';
import { queuePages } from './queue-pages.js';
import { temporary400 } from './temporary.js';
import type { ConcurPage, ConcurRecord } from './record.js';

/**
 * Speaks to Concur's Connection Requests resource, API 3.0 or 3.2 (one interface: the poller and
 * the outbox do not ask which). What differs is small and stays here: 3.0 as the seed (XML by
 * default, status filter, opaque offsets followed as NextPage gives them, an XML PUT); 3.2 as
 * Concur's current page (JSON, no status filter — everything listed is pending —, a queue with
 * integer offsets that a PUT pops, queue-pages.ts; a JSON PUT; calls to the token's geolocation).
 */

/** CONCUR_API_VERSION, as this room names it (it imports nothing of the relay's configuration). */
export type ApiVersion = '3.0' | '3.2';

export interface ConcurClientOptions {
  /** The instance URL, e.g. https://www.concursolutions.com (3.2: used until a token names its geolocation). */
  baseUrl: string;
  auth: TokenProvider;
  /** Default 3.0. */
  version?: ApiVersion;
  timeoutMs?: number;
  /** No body is read beyond this, whatever the call; smaller calls get less (bounds.ts). */
  maxBodyBytes?: number;
  /** Ask for XML or JSON; default XML under 3.0 (Concur's default), JSON under 3.2 (its documented format). */
  accept?: 'xml' | 'json';
  /** A runaway NextPage chain stops here. */
  maxPages?: number;
  /** 3.2: list calls on the wire while a page is stored, when the pages' limit is given (queue-pages.ts). Default 2. */
  pagesAhead?: number;
  /** Where the token may go under 3.0. Default: the origin of baseUrl alone. (3.2: exactly the current token's geolocation.) */
  allowedOrigins?: AllowedOrigins;
  /** Told about every call (the relay's latency metrics). */
  observe?: (call: { operation: Operation; outcome: number | string; seconds: number }) => void;
}

/** What a call does, for the metrics: read a page of the list, read one request, send a reply. */
type Operation = 'list' | 'get' | 'put';

export interface ListOptions {
  /** 3.0's filter. 3.2 has none: it lists pending requests only, so there `Pending` (any case) or nothing. */
  status?: string;
  limit?: number;
  /** 3.0: opaque text; 3.2: a position in the queue. */
  offset?: string | number;
}

/** How much of an answer is read: the body's bytes, and the requests it may hold. */
type Reading = Required<Pick<DecodeOptions, 'maxBytes' | 'pageLimit'>>;

const DEFAULT_PAGES_AHEAD = 2;

const RESOURCE: Readonly<Record<ApiVersion, string>> = {
  '3.0': '/api/v3.0/common/connectionrequests',
  '3.2': '/api/v3.2/common/connectionrequests',
};

export class ConcurClient {
  readonly version: ApiVersion;
  private readonly base: URL;
  private readonly resource: string;
  /** 3.2: list calls and PUTs take turns, so that paging knows what every PUT did to the queue. */
  private readonly gate = new QueueGate();
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly maxPages: number;
  private readonly allowed: AllowedOrigins;
  /** 3.2: the current token's geolocation as read, its URL, and the one origin calls may go to. */
  private geolocated: { text: string; base: URL; allowed: AllowedOrigins } | null = null;

  constructor(private readonly options: ConcurClientOptions) {
    this.base = new URL(options.baseUrl);
    this.version = options.version ?? '3.0';
    this.resource = RESOURCE[this.version];
    this.allowed = options.allowedOrigins ?? new AllowedOrigins([this.base]);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.maxPages = options.maxPages ?? 10_000;
  }

  /**
   * The first page of the list, or the page a NextPage URL points to (with the limit the first
   * page asked for, which NextPage carries on). A page far larger than the limit is refused.
   */
  async listPage(from: ListOptions | { nextPage: string; limit?: number } = {}): Promise<ConcurPage> {
    return builtPage(await this.readPage(from));
  }

  /** listPage, the page's records still to build (`records()`, which throws as listPage would): paging needs only NextPage and the count. */
  async readPage(from: ListOptions | { nextPage: string; limit?: number } = {}): Promise<PageReading> {
    if (this.version === '3.2') {
      if ('nextPage' in from) throw new RangeError('API 3.2: page by offset; its NextPage is not to be reused once a PUT was made');
      return this.gate.run('list', () => this.fetchPage(from));
    }
    return this.fetchPage(from);
  }

  private async fetchPage(from: ListOptions | { nextPage: string; limit?: number }): Promise<PageReading> {
    const url = 'nextPage' in from ? this.nextPageUrl(from.nextPage) : this.listUrl(from);
    // Without a limit Concur sends its default page, at most its largest.
    const reading = this.reading(from.limit ?? CONCUR_MAX_PAGE);
    const res = await this.call('list', url, reading);
    return readPage(res.body, res.headers.get('content-type'), reading);
  }

  /**
   * Every page, following NextPage as Concur gives it until there is none.
   *
   * The next page is asked for before the current one is handed over, so Concur (and the network)
   * work on it while the caller stores this one: a sweep costs about the larger of the two, not
   * their sum. 3.0's NextPage stays sequential — it is opaque and comes only with the page before —,
   * so one request is ahead; only the parse is needed for it: the records (validated one by one)
   * are built once it is on the wire. 3.2's positions are known sooner: `pagesAhead` requests are
   * ahead (queue-pages.ts). A caller that stops early leaves the requests ahead unread.
   */
  async *pages(options: ListOptions = {}): AsyncGenerator<ConcurPage> {
    if (this.version === '3.2') {
      const paging = { maxPages: this.maxPages, limit: options.limit, ahead: this.options.pagesAhead ?? DEFAULT_PAGES_AHEAD };
      yield* queuePages((offset) => this.fetchPage({ ...options, offset }), this.gate, paging);
      return;
    }
    let page = await this.readPage(options);
    const seen = new Set<string>();
    for (let count = 1; ; count++) {
      if (page.nextPage === null) {
        yield builtPage(page);
        return;
      }
      if (seen.has(page.nextPage) || count >= this.maxPages) {
        yield builtPage(page);
        throw new ConcurError('bad_response', `NextPage does not come to an end (stopped after ${count} pages)`);
      }
      seen.add(page.nextPage);
      const next = this.readPage({ nextPage: page.nextPage, limit: options.limit });
      // Its failure is read below, when it is awaited; until then it must not count as unhandled.
      next.catch(() => undefined);
      // One turn of the event loop, so the request is on the wire before this page's records are built.
      await new Promise((resolve) => setImmediate(resolve));
      yield builtPage(page);
      page = await next;
    }
  }

  async listAll(options: ListOptions = {}): Promise<ConcurRecord[]> {
    const all: ConcurRecord[] = [];
    for await (const page of this.pages(options)) all.push(...page.items);
    return all;
  }

  async get(id: string): Promise<ConcurRecord> {
    const reading = this.reading(1);
    const res = await this.call('get', this.itemUrl(id), reading);
    return decodeRecord(res.body, res.headers.get('content-type'), reading);
  }

  /** Sends the partner's status reply. Resolves on Concur's 204; everything else is a ConcurError. */
  async putStatus(id: string, status: ReplyCode): Promise<void> {
    if (this.version === '3.2') return this.gate.run('put', () => this.sendStatus(id, status));
    return this.sendStatus(id, status);
  }

  private async sendStatus(id: string, status: ReplyCode): Promise<void> {
    const reading = this.reading(1);
    const body = this.version === '3.2' ? encodeStatusUpdateJson(status) : encodeStatusUpdate(status);
    const res = await this.call('put', this.itemUrl(id), reading, body);
    // Concur documents 204; a 200 is accepted unless its body is an <Error> (Concur's 200-with-error quirk).
    if (res.status === 200 && res.body.trim() !== '') {
      const decoded = safeDecode(res, reading);
      if (decoded?.kind === 'error') throw concurError(res.status, decoded.message, decoded.id);
    }
  }

  /** Paths and queries are resolved against the base at each attempt (3.2: the token's geolocation then). */
  private listUrl(options: ListOptions): string {
    const query = new URLSearchParams();
    if (options.status !== undefined && this.version === '3.0') query.set('status', options.status);
    if (options.status !== undefined && this.version === '3.2' && options.status.trim().toLowerCase() !== 'pending') {
      throw new RangeError(`API 3.2 has no status filter (it lists pending requests only); asked for ${JSON.stringify(options.status)}`);
    }
    if (options.offset !== undefined) query.set('offset', String(options.offset));
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    // 3.2's documented list path ends in a slash (`…/connectionrequests/?limit=10&offset=0`).
    const path = this.version === '3.2' ? `${this.resource}/` : this.resource;
    return query.size === 0 ? path : `${path}?${query}`;
  }

  private itemUrl(id: string): string {
    // Built from the ID, never from Concur's URI: the published URIs carry typos.
    return `${this.resource}/${encodeURIComponent(id)}`;
  }

  /** Where calls go: 3.0 the configured instance; 3.2 the geolocation the current token named (else the instance). */
  private currentBase(): { base: URL; allowed: AllowedOrigins } {
    if (this.version === '3.0') return { base: this.base, allowed: this.allowed };
    const text = this.options.auth.geolocation?.() ?? this.base.href;
    // Read again only when the token names another geolocation: a sweep asks a thousand times.
    if (this.geolocated?.text !== text) {
      const base = new URL(text);
      // 3.2: the token goes to its own geolocation and nowhere else (not even the configured instance).
      this.geolocated = { text, base, allowed: new AllowedOrigins([base]) };
    }
    return this.geolocated;
  }

  /**
   * NextPage is opaque, but it is the one URL the relay takes from Concur's answer, and the token
   * goes with it: it is followed only on an allowed origin (send() checks that again), and as it
   * was resolved, never rebuilt from its parts (a path `//evil` re-parses as a host).
   */
  private nextPageUrl(nextPage: string): URL {
    let next: URL;
    try {
      next = new URL(nextPage, this.base);
    } catch {
      throw new ConcurError('bad_response', 'NextPage is not a URL');
    }
    if (!this.allowed.allows(next)) {
      throw new ConcurError(
        'bad_response',
        `NextPage points to ${whereTo(next)}, not to the configured Concur instance (${this.allowed}); the relay sends its token nowhere else`,
      );
    }
    // Harmless here, but it is how a host is smuggled into a path, and Concur never sends it.
    if (next.pathname.startsWith('//')) {
      throw new ConcurError('bad_response', 'NextPage has a path that starts with "//", which names a host rather than a page');
    }
    return next;
  }

  /** A page of `pageLimit` requests (1: one request) is read up to the bytes such a page can take. */
  private reading(pageLimit: number): Reading {
    return { maxBytes: Math.min(this.maxBytes, bodyBudget(pageLimit)), pageLimit };
  }

  private async call(operation: Operation, url: string | URL, reading: Reading, body?: string): Promise<HttpResponse> {
    let res = await this.attempt(operation, url, reading, body);
    if ((res.status === 401 || res.status === 403) && (await this.options.auth.renew())) {
      res = await this.attempt(operation, url, reading, body);
    }
    if (res.status >= 200 && res.status < 300) return res;
    throw this.failure(res, reading);
  }

  private async attempt(operation: Operation, url: string | URL, reading: Reading, body?: string): Promise<HttpResponse> {
    const method = operation === 'put' ? 'PUT' : 'GET';
    const observe = this.options.observe;
    const json = (this.options.accept ?? (this.version === '3.2' ? 'json' : 'xml')) === 'json';
    const headers: Record<string, string> = {
      // First: under 3.2 the token's answer names the geolocation the call goes to.
      authorization: await this.options.auth.authorization(),
      accept: json ? 'application/json' : 'application/xml',
    };
    if (body !== undefined) headers['content-type'] = this.version === '3.2' ? 'application/json' : 'application/xml; charset=utf-8';
    const { base, allowed } = this.currentBase();
    return send({
      method,
      // NextPage (3.0) comes resolved already; paths are resolved against the current base.
      url: typeof url === 'string' ? new URL(url, base) : url,
      headers,
      body,
      timeoutMs: this.timeoutMs,
      maxBytes: reading.maxBytes,
      allowedOrigins: allowed,
      observe: observe && ((outcome, seconds) => observe({ operation, outcome, seconds })),
    });
  }

  private failure(res: HttpResponse, reading: Reading): ConcurError {
    const said = safeDecode(res, reading);
    const concurMessage = said?.kind === 'error' ? said.message : undefined;
    const concurId = said?.kind === 'error' ? (said.id ?? undefined) : undefined;
    const details = { status: res.status, concurMessage, concurId };
    const quoted = concurMessage ? `: ${concurMessage}` : '';
    switch (true) {
      case res.status === 401 || res.status === 403:
        return new ConcurError('unauthorized', `Concur refused the access token (${res.status})${quoted}`, details);
      case res.status === 404:
        return new ConcurError('not_found', `Concur does not know this connection request (404)${quoted}`, details);
      case res.status === 429:
        return new ConcurError('rate_limited', `Concur is rate limiting (429)${quoted}`, {
          ...details,
          retryAfterSeconds: parseRetryAfter(res.headers.get('retry-after')),
        });
      case res.status >= 500:
        return new ConcurError('unavailable', `Concur is unavailable (${res.status})${quoted}`, {
          ...details,
          retryAfterSeconds: parseRetryAfter(res.headers.get('retry-after')),
        });
      case res.status === 400 && temporary400(concurMessage, details) !== undefined:
        return temporary400(concurMessage, details)!;
      case res.status >= 300 && res.status < 400:
        return new ConcurError('bad_response', `Concur answered with a redirect (${res.status}); check CONCUR_BASE_URL`, details);
      default:
        return concurError(res.status, concurMessage ?? `HTTP ${res.status}`, concurId ?? null);
    }
  }
}


function concurError(status: number, message: string, id: string | null): ConcurError {
  return new ConcurError('concur_error', `Concur answered ${status}: ${message}`, {
    status,
    concurMessage: message,
    concurId: id ?? undefined,
  });
}

function safeDecode(res: HttpResponse, reading: Reading) {
  try {
    return decodeBody(res.body, res.headers.get('content-type'), reading);
  } catch {
    return undefined;
  }
}
