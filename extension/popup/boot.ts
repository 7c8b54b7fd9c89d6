import { browser } from 'wxt/browser';

/**
 * The popup's head start: the relay is asked before the popup's own code (Preact, zod, the
 * components) has even loaded.
 *
 * The popup entry (entrypoints/popup/main.tsx) runs this first, from a chunk with nothing else in
 * it, and loads the rest with a dynamic import. Meanwhile this reads the settings straight from
 * storage, opens the live-events stream and, at the same time, asks for every page of the list
 * the popup opens on (pending, or the `#group=` it is sent to), each next page as soon as a page
 * names it (its Link header; the popup itself validates a page before it asks for the next one,
 * and that takes longer); then, once the popup has taken that list and drawn the next frame, the summary
 * and the other groups' lists. Those wait because the pages of one list can only come one after
 * the other, and nothing on screen waits for the rest: the stream opens with the relay's summary,
 * so the tabs have their counts at once.
 *
 * The popup's relay client and live-events stream go through `prefetcher.fetch`, which answers a
 * request from what was started here when it is the very same one (URL, method GET,
 * Authorization), once, and from the network otherwise. Nothing is trusted more for having come
 * early: the popup validates these answers exactly as any other.
 *
 * The lists do not wait for the stream: each answer says which event it stands at, and the popup
 * reads again only when that is before the stream's start (see controller.ts).
 *
 * It imports nothing heavy on purpose (no zod, no shared models): the storage key, the groups, the
 * page size and the requests are spelled out as lib/settings.ts, the relay client
 * (lib/relay-client.ts) and followEvents (lib/sse-client.ts) make them, and checked against them by the tests
 * (test/extension/popup/boot.test.ts).
 */

/** `settingsItem` (lib/settings.ts) is `local:settings`: the `settings` key of storage.local. */
export const SETTINGS_KEY = 'settings';
/** shared/status.ts GROUPS, in the order the popup reads them. */
export const BOOT_GROUPS = ['pending', 'failed', 'connected'] as const;
/** lib/relay-client.ts `allRequests`: pages of 200, at most 5,000 requests. */
export const PAGE_LIMIT = 200;
export const MAX_PAGES = 5000 / PAGE_LIMIT;
/** lib/relay-client.ts: the deadline of one call. */
const CALL_TIMEOUT_MS = 15_000;

export interface Prefetcher {
  /** fetch, answered from a prefetched request when it is the same one (once), else from the network. */
  fetch: typeof fetch;
  /** Starts nothing more, and aborts what was prefetched and not taken. */
  drop(): void;
  /** The stored settings value as read here (storage.local `settings`, undefined when absent). */
  readonly settings: Promise<unknown>;
}

export interface BootEnv {
  /** The stored settings value (storage.local `settings`), as it is. */
  readSettings(): Promise<unknown>;
  fetch: typeof fetch;
  online(): boolean;
  /** The page's hash (`#group=failed`, `#request=<id>`): which list is shown first. */
  hash: string;
}

const realEnv = (): BootEnv => ({
  readSettings: async () => (await browser.storage.local.get(SETTINGS_KEY))[SETTINGS_KEY],
  fetch: (input, init) => fetch(input, init),
  online: () => typeof navigator === 'undefined' || navigator.onLine !== false,
  hash: typeof location === 'undefined' ? '' : location.hash,
});

/** The group the popup opens on (view.ts parseTarget), or null when it cannot be known (`#request=`). */
function firstGroup(hash: string): (typeof BOOT_GROUPS)[number] | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  if ((params.get('request') ?? '') !== '') return null;
  return BOOT_GROUPS.find((group) => group === params.get('group')) ?? 'pending';
}

/** How long the rest waits, once the first list is in, for the popup to take it. */
const REST_WAIT_MS = 1_000;
/** After the next frame: the popup has drawn what it took by then. */
const afterFrame = (run: () => void): void => {
  if (typeof requestAnimationFrame === 'function') requestAnimationFrame(() => setTimeout(run, 0));
  else setTimeout(run, 0);
};
/** What a prefetched request is kept under: the same URL with the same Authorization. */
const key = (url: string, authorization: string) => `${authorization}\n${url}`;

interface Entry {
  response: Promise<Response>;
  controller: AbortController;
}

/** As loadSettings (lib/settings.ts) decides: complete enough to talk to a relay. */
function usable(value: unknown): value is { relayUrl: string; apiKey: string } {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.relayUrl === 'string' && v.relayUrl !== '' && typeof v.apiKey === 'string' && v.apiKey !== '' && typeof v.notifications === 'boolean';
}

function urlOf(input: RequestInfo | URL): string {
  return typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
}

/** Aborts `controller` when `signal` aborts (or now, if it has). */
function follow(signal: AbortSignal | null | undefined, controller: AbortController): void {
  if (!signal) return;
  if (signal.aborted) controller.abort(signal.reason);
  else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
}

/** As the relay client builds each page of a group's list (groupSnapshot): group, limit 200, cursor. */
function pageUrl(base: string, group: string, cursor?: string): string {
  const params = new URLSearchParams();
  params.set('group', group);
  params.set('limit', String(PAGE_LIMIT));
  if (cursor) params.set('cursor', cursor);
  return `${base}/api/v1/requests?${params.toString()}`;
}

/**
 * A page's `nextCursor`, or null. The relay writes it last (`{"items":[…],"nextCursor":…}`), so
 * the end of the text is read first; anything else is parsed whole. A wrong guess costs only a
 * prefetch nobody asks for: the popup follows the cursor of the page it has validated.
 */
export function nextCursorOf(text: string): string | null {
  const tail = /"nextCursor":("(?:[^"\\]|\\.)*"|null)\}\s*$/.exec(text.slice(-4096));
  let next: unknown;
  try {
    next = tail !== null ? JSON.parse(tail[1]!) : (JSON.parse(text) as { nextCursor?: unknown } | null)?.nextCursor;
  } catch {
    return null;
  }
  return typeof next === 'string' && next !== '' ? next : null;
}

/**
 * The `cursor` of a `Link` header's rel="next" target (resolved against the page's URL), or
 * undefined when there is none. The relay names the next page so; its cursor is what the popup's
 * client will ask for next, built the same way (pageUrl).
 */
export function nextCursorOfLink(link: string | null, pageHref: string): string | undefined {
  if (link === null) return undefined;
  for (const part of link.split(',')) {
    const target = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (target === null || !/(^|;)\s*rel\s*=\s*"?next"?\s*(;|$)/i.test(target[2]!)) continue;
    try {
      const cursor = new URL(target[1]!, pageHref).searchParams.get('cursor');
      if (cursor !== null && cursor !== '') return cursor;
    } catch {
      // not a URL: read the body instead
    }
  }
  return undefined;
}

export function bootPopup(env: BootEnv = realEnv()): Prefetcher {
  const entries = new Map<string, Entry>();
  let dropped = false;

  /**
   * Starts a request and keeps it for the popup to take. `then` may look at the answer first (a
   * copy of it, if it reads the body): the popup gets the answer only after that, so what `then`
   * starts (the next page) is there before the popup can ask for it.
   */
  const prefetch = (
    url: string,
    headers: Record<string, string>,
    init: RequestInit = {},
    timeoutMs?: number,
    then?: (res: Response) => Promise<void>,
    after?: Promise<void>,
  ): Promise<Response> => {
    const controller = new AbortController();
    const send = () => {
      if (controller.signal.aborted) return Promise.reject(controller.signal.reason);
      if (timeoutMs !== undefined) {
        const timer = setTimeout(() => controller.abort(new DOMException('The request timed out', 'TimeoutError')), timeoutMs);
        controller.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
      }
      return env.fetch(url, { ...init, headers, signal: controller.signal });
    };
    // `after`: known (and taken) at once, sent later.
    const fetched = after === undefined ? send() : after.then(send);
    const response =
      then === undefined
        ? fetched
        : fetched.then(async (res) => {
            try {
              await then(res);
            } catch {
              // only a head start
            }
            return res;
          });
    // Nobody may ever take it: its failure is reported to whoever does, not here.
    response.catch(() => undefined);
    entries.set(key(url, headers.authorization ?? ''), { response, controller });
    return response;
  };

  /**
   * Page `n` of a group's list, and the next one as soon as it is known: from the answer's
   * `Link: <…>; rel="next"` header, so before its body is in, or else (a relay without it, or
   * the last page) from the end of its text. `done` when the list is complete, with its last
   * page's key (null: it failed). `after`: the first page is sent once that has settled.
   */
  const page = (
    base: string,
    headers: Record<string, string>,
    group: string,
    cursor: string | undefined,
    n: number,
    done: (lastKey: string | null) => void,
    after?: Promise<void>,
  ): void => {
    let more = false;
    const url = pageUrl(base, group, cursor);
    prefetch(
      url,
      headers,
      {},
      CALL_TIMEOUT_MS,
      async (res) => {
        if (!res.ok || dropped || n + 1 >= MAX_PAGES) return;
        // A copy of the body is read only without a Link: the popup reads the answer itself.
        const next = nextCursorOfLink(res.headers.get('link'), url) ?? nextCursorOf(await res.clone().text());
        if (next === null || dropped) return;
        more = true;
        page(base, headers, group, next, n + 1, done);
      },
      after,
    ).then(
      () => {
        if (!more) done(key(url, headers.authorization ?? ''));
      },
      () => done(null),
    );
  };

  /** What was taken (by key): the rest waits for the last page of the first list to be. */
  const taken = new Set<string>();
  let restAfter: string | null = null;
  let openRest: () => void = () => undefined;

  const settings = env.readSettings();
  settings.catch(() => undefined);
  void settings.then(
    (stored) => {
      if (dropped || !usable(stored) || !env.online()) return;
      const base = stored.relayUrl;
      const authorization = `Bearer ${stored.apiKey}`;
      // As followEvents (lib/sse-client.ts) asks for a new stream.
      prefetch(`${base}/api/v1/events`, { authorization, accept: 'text/event-stream' }, {});
      // As the relay client (lib/relay-client.ts) asks: allRequests(group) for each group, and
      // summary(). The list on screen first; the rest once the popup has taken all of it and
      // drawn the frame after (or after REST_WAIT_MS at most).
      const json = { authorization, accept: 'application/json' };
      const first = firstGroup(env.hash);
      const rest =
        first === null
          ? undefined
          : new Promise<void>((resolve) => {
              openRest = resolve;
            });
      const firstDone = (lastKey: string | null) => {
        setTimeout(openRest, REST_WAIT_MS);
        if (lastKey === null || taken.has(lastKey)) afterFrame(openRest);
        else restAfter = lastKey;
      };
      if (first !== null) page(base, json, first, undefined, 0, firstDone);
      prefetch(`${base}/api/v1/summary`, json, {}, CALL_TIMEOUT_MS, undefined, rest);
      for (const group of BOOT_GROUPS) if (group !== first) page(base, json, group, undefined, 0, () => undefined, rest);
    },
    () => undefined,
  );

  return {
    settings,
    fetch: (input, init) => {
      const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      if (method === 'GET' && !headers.has('last-event-id')) {
        const k = key(urlOf(input), headers.get('authorization') ?? '');
        const entry = entries.get(k);
        if (entry !== undefined) {
          entries.delete(k);
          taken.add(k);
          if (k === restAfter) afterFrame(openRest);
          follow(init?.signal, entry.controller);
          return entry.response;
        }
      }
      return env.fetch(input, init);
    },
    drop() {
      dropped = true;
      for (const entry of entries.values()) entry.controller.abort();
      entries.clear();
    },
  };
}
