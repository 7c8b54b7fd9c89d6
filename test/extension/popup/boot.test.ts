import { beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { GROUPS } from '../../../shared/status.js';
import { BOOT_GROUPS, MAX_PAGES, PAGE_LIMIT, SETTINGS_KEY, bootPopup, nextCursorOf, nextCursorOfLink, type BootEnv } from '../../../extension/popup/boot.js';
import { createRelayClient } from '../../../extension/lib/relay-client.js';
import { loadSettings, settingsFrom, settingsItem } from '../../../extension/lib/settings.js';
import { request } from '../helpers/popup-fixtures.js';

/**
 * The popup's head start (extension/popup/boot.ts): what it asks the relay for, in which order,
 * and that the popup's client and live stream get exactly those answers, once.
 */

const RELAY = 'http://127.0.0.1:8787';
const KEY = 'key-0123456789abcdef';
const STORED = { relayUrl: RELAY, apiKey: KEY, notifications: true };

interface Call {
  url: string;
  authorization: string | null;
  accept: string | null;
  cache: RequestCache | undefined;
  signal: AbortSignal | undefined;
}

/** A relay on a fake network: 3 pages of pending (2 + 2 + 1), none elsewhere; the stream answers when told. */
function fakeNetwork() {
  const calls: Call[] = [];
  const pending = Array.from({ length: 5 }, () => request());
  let answerStream: (ok: boolean) => void = () => undefined;
  const streamAnswered = new Promise<boolean>((resolve) => (answerStream = resolve));
  let push: (text: string) => void = () => undefined;
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers = new Headers(init?.headers);
    calls.push({ url, authorization: headers.get('authorization'), accept: headers.get('accept'), cache: init?.cache, signal: init?.signal ?? undefined });
    const path = url.slice(RELAY.length);
    if (path === '/api/v1/events') {
      const ok = await streamAnswered;
      if (!ok) return new Response('{}', { status: 503, headers: { 'content-type': 'application/json' } });
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          push = (text) => controller.enqueue(new TextEncoder().encode(text));
          init?.signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
        },
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    }
    if (path === '/api/v1/summary') {
      return Response.json({ counts: { pending: 5, failed: 0, connected: 0 }, concur: { state: 'ok', lastPollAt: null, lastSuccessAt: null, lastError: null }, exchange: { state: 'ok', reason: null }, autoConnect: { policy: 'off', directory: false } });
    }
    const q = new URL(url).searchParams;
    if (q.get('group') !== 'pending') return Response.json({ items: [], nextCursor: null });
    const page = Number(q.get('cursor') ?? '0');
    return Response.json({ items: pending.slice(page * 2, page * 2 + 2), nextCursor: page < 2 ? String(page + 1) : null });
  };
  return { calls, fetch, pending, answerStream, push: (text: string) => push(text), paths: () => calls.map((c) => c.url.slice(RELAY.length)) };
}

function env(network: ReturnType<typeof fakeNetwork>, ...stored: [unknown?]): BootEnv {
  return { readSettings: async () => (stored.length === 0 ? STORED : stored[0]), online: () => true, fetch: network.fetch, hash: '' };
}

const flush = async (times = 20) => {
  for (let i = 0; i < times; i++) await new Promise((resolve) => setTimeout(resolve, 0));
};

beforeEach(() => fakeBrowser.reset());

describe('popup boot', () => {
  it('opens the live stream and, without waiting for it, every page of the list on screen; then the summary and the other lists', async () => {
    const network = fakeNetwork();
    const boot = bootPopup(env(network));
    await flush();
    // As followEvents asks for a new stream.
    expect(network.calls[0]).toMatchObject({ authorization: `Bearer ${KEY}`, accept: 'text/event-stream' });
    // The default cache mode, as followEvents asks: Chrome then reuses its CORS preflight (the relay says no-store).
    expect(network.calls[0]!.cache).toBeUndefined();
    // The stream has not answered yet.
    const pendingPages = [
      `/api/v1/requests?group=pending&limit=${PAGE_LIMIT}`,
      `/api/v1/requests?group=pending&limit=${PAGE_LIMIT}&cursor=1`,
      `/api/v1/requests?group=pending&limit=${PAGE_LIMIT}&cursor=2`,
    ];
    expect(network.paths()).toEqual(['/api/v1/events', ...pendingPages]);
    // The rest once the popup has taken that list (and drawn a frame).
    await flush();
    expect(network.paths()).toHaveLength(4);
    await createRelayClient(STORED, boot.fetch).allRequests('pending');
    await flush();
    expect(network.paths()).toEqual([
      '/api/v1/events',
      ...pendingPages,
      '/api/v1/summary',
      `/api/v1/requests?group=failed&limit=${PAGE_LIMIT}`,
      `/api/v1/requests?group=connected&limit=${PAGE_LIMIT}`,
    ]);
    expect(network.calls.slice(1).every((c) => c.authorization === `Bearer ${KEY}` && c.accept === 'application/json')).toBe(true);
  });

  it('asks for the rest anyway when the popup does not take the first list', async () => {
    const network = fakeNetwork();
    bootPopup(env(network));
    network.answerStream(true);
    await flush();
    expect(network.paths()).toHaveLength(4);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(network.paths()).toHaveLength(7);
  });

  it('opens on the group of #group=, and on all at once for #request= (its group is not known yet)', async () => {
    const failedFirst = fakeNetwork();
    const boot = bootPopup({ ...env(failedFirst), hash: '#group=failed' });
    failedFirst.answerStream(true);
    await flush();
    expect(failedFirst.paths().slice(1)).toEqual([`/api/v1/requests?group=failed&limit=${PAGE_LIMIT}`]);
    await createRelayClient(STORED, boot.fetch).allRequests('failed');
    await flush();
    expect(failedFirst.paths().slice(2, 3)).toEqual(['/api/v1/summary']);

    const any = fakeNetwork();
    bootPopup({ ...env(any), hash: '#request=abc' });
    any.answerStream(true);
    await flush();
    expect(any.paths().slice(1, 5)).toEqual([
      '/api/v1/summary',
      `/api/v1/requests?group=pending&limit=${PAGE_LIMIT}`,
      `/api/v1/requests?group=failed&limit=${PAGE_LIMIT}`,
      `/api/v1/requests?group=connected&limit=${PAGE_LIMIT}`,
    ]);
  });

  it('answers the popup’s live stream and relay client from what it started, each request once', async () => {
    const network = fakeNetwork();
    const boot = bootPopup(env(network));
    await flush();
    // The popup follows the stream as followEvents does, and reads the lists once it is open.
    const streamAsked = boot.fetch(`${RELAY}/api/v1/events`, {
      headers: { authorization: `Bearer ${KEY}`, accept: 'text/event-stream' },
    });
    network.answerStream(true);
    const stream = await streamAsked;
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    const client = createRelayClient(STORED, boot.fetch);
    const [summary, pending, failed, connected] = await Promise.all([
      client.summary(),
      client.allRequests('pending'),
      client.allRequests('failed'),
      client.allRequests('connected'),
    ]);
    expect(summary.counts.pending).toBe(5);
    expect(pending.map((r) => r.id)).toEqual(network.pending.map((r) => r.id));
    expect([failed, connected]).toEqual([[], []]);
    // Every one of those was the prefetched request: the network saw each URL once.
    const paths = network.paths();
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths).toHaveLength(7);
    // The stream's bytes come through as they come.
    const reader = stream.body!.getReader();
    network.push('event: summary\ndata: {}\n\n');
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toBe('event: summary\ndata: {}\n\n');
    // A second read of the same URL (a refresh) goes to the network.
    await client.summary();
    expect(network.paths().filter((p) => p === '/api/v1/summary')).toHaveLength(2);
  });

  it('another key, another method or a resumed stream is not answered from the prefetch', async () => {
    const network = fakeNetwork();
    const boot = bootPopup(env(network));
    network.answerStream(true);
    await flush();
    await createRelayClient(STORED, boot.fetch).allRequests('pending');
    await flush();
    await createRelayClient({ relayUrl: RELAY, apiKey: 'other-key' }, boot.fetch).summary();
    await boot.fetch(`${RELAY}/api/v1/events`, { headers: { authorization: `Bearer ${KEY}`, 'last-event-id': '7' } });
    expect(network.paths().filter((p) => p === '/api/v1/summary')).toHaveLength(2);
    expect(network.paths().filter((p) => p === '/api/v1/events')).toHaveLength(2);
    await boot.fetch(`${RELAY}/api/v1/summary`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` } });
    expect(network.paths().filter((p) => p === '/api/v1/summary')).toHaveLength(3);
  });

  it('a stream that fails holds up no list, and its failure reaches the popup’s followEvents', async () => {
    const failing = fakeNetwork();
    const boot = bootPopup(env(failing));
    failing.answerStream(false);
    await flush();
    await createRelayClient(STORED, boot.fetch).allRequests('pending');
    await flush();
    expect(failing.paths()).toHaveLength(7);
    // followEvents reports it and tries again itself.
    const res = await boot.fetch(`${RELAY}/api/v1/events`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(503);
  });

  it('does nothing without usable settings', async () => {
    for (const stored of [undefined, null, { relayUrl: '', apiKey: KEY, notifications: true }, { relayUrl: RELAY, apiKey: KEY }]) {
      const network = fakeNetwork();
      bootPopup(env(network, stored));
      await flush();
      expect(network.calls).toEqual([]);
    }
  });

  it('drop() aborts what was not taken; what the popup took follows the popup’s own signal', async () => {
    const network = fakeNetwork();
    const boot = bootPopup(env(network));
    network.answerStream(true);
    await flush();
    const mine = new AbortController();
    const stream = await boot.fetch(`${RELAY}/api/v1/events`, { headers: { authorization: `Bearer ${KEY}` }, signal: mine.signal });
    // The pages are fetched whole and wait to be taken; a page still on its way is aborted.
    boot.drop();
    await flush();
    expect(network.calls[0]!.signal!.aborted).toBe(false);
    mine.abort();
    await flush();
    expect(network.calls[0]!.signal!.aborted).toBe(true);
    await expect(stream.body!.getReader().read()).rejects.toThrow();
    // Nothing is answered from the prefetch any more, and what was to follow is not asked for.
    await createRelayClient(STORED, boot.fetch).allRequests('pending');
    await flush();
    expect(network.paths().filter((p) => p.includes('group=pending'))).toHaveLength(6);
    expect(network.paths().filter((p) => p === '/api/v1/summary' || p.includes('group=failed'))).toEqual([]);
  });

  it('asks for the next page from the Link header, before this page’s body is in', async () => {
    const asked: string[] = [];
    const bodies: Array<(text: string) => void> = [];
    const fetch: typeof globalThis.fetch = async (input) => {
      const url = String(input);
      asked.push(url.slice(RELAY.length));
      if (url.endsWith('/api/v1/events')) return new Promise<Response>(() => undefined);
      const cursor = new URL(url).searchParams.get('cursor');
      const next = cursor === null ? 'c1' : cursor === 'c1' ? 'c2' : null;
      // The body comes only when the test says so.
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          bodies.push((text) => {
            controller.enqueue(new TextEncoder().encode(text));
            controller.close();
          });
        },
      });
      const headers = new Headers({ 'content-type': 'application/json' });
      if (next !== null) headers.set('link', `<?group=pending&limit=${PAGE_LIMIT}&cursor=${next}>; rel="next"`);
      return new Response(body, { status: 200, headers });
    };
    const boot = bootPopup({ readSettings: async () => STORED, online: () => true, fetch, hash: '' });
    await flush();
    // No body has come, and every page was asked for.
    expect(asked.filter((p) => p.includes('group=pending'))).toEqual([
      `/api/v1/requests?group=pending&limit=${PAGE_LIMIT}`,
      `/api/v1/requests?group=pending&limit=${PAGE_LIMIT}&cursor=c1`,
      `/api/v1/requests?group=pending&limit=${PAGE_LIMIT}&cursor=c2`,
    ]);
    for (const [i, send] of bodies.entries()) send(JSON.stringify({ items: [], nextCursor: i < 2 ? `c${i + 1}` : null }));
    // The popup's client is answered from them, page by page.
    expect(await createRelayClient(STORED, boot.fetch).allRequests('pending')).toEqual([]);
    expect(asked.filter((p) => p.includes('group=pending'))).toHaveLength(3);
  });

  it('reads the next cursor of a Link header’s rel="next" target, and nothing else', () => {
    const page = `${RELAY}/api/v1/requests?group=pending&limit=200`;
    expect(nextCursorOfLink('</api/v1/requests?group=pending&limit=200&cursor=WyJhIl0>; rel="next"', page)).toBe('WyJhIl0');
    expect(nextCursorOfLink('<?cursor=abc>; rel=next', page)).toBe('abc');
    expect(nextCursorOfLink('</x?cursor=p>; rel="prev", </x?cursor=n>; title="t"; rel="next"', page)).toBe('n');
    expect(nextCursorOfLink('</x?cursor=n>; rel="nextish"', page)).toBeUndefined();
    expect(nextCursorOfLink('</x>; rel="next"', page)).toBeUndefined();
    expect(nextCursorOfLink(null, page)).toBeUndefined();
  });

  it('reads a page’s nextCursor from its end, or from the whole page when it is not there', () => {
    const tricky = { id: 'x', firstName: '"nextCursor":"no"}' };
    expect(nextCursorOf(JSON.stringify({ items: [tricky], nextCursor: 'WyJhIiwiYiJd' }))).toBe('WyJhIiwiYiJd');
    expect(nextCursorOf(JSON.stringify({ items: [tricky], nextCursor: 'a"b\\c' }))).toBe('a"b\\c');
    expect(nextCursorOf(JSON.stringify({ items: [tricky], nextCursor: null }))).toBeNull();
    expect(nextCursorOf(JSON.stringify({ nextCursor: 'first', items: [tricky] }))).toBe('first');
    expect(nextCursorOf(JSON.stringify({ items: [], nextCursor: '' }))).toBeNull();
    expect(nextCursorOf('not json')).toBeNull();
  });

  it('spells out what it must agree on: the storage key, the groups, the page size', async () => {
    expect(BOOT_GROUPS).toEqual(GROUPS);
    expect(MAX_PAGES * PAGE_LIMIT).toBe(5000);
    await settingsItem.setValue(STORED);
    expect((await fakeBrowser.storage.local.get(SETTINGS_KEY))[SETTINGS_KEY]).toEqual(STORED);
  });

  it('makes the same settings of a stored value as loadSettings does', async () => {
    const values: unknown[] = [
      STORED,
      { relayUrl: RELAY, apiKey: '', notifications: true },
      { relayUrl: '', apiKey: KEY, notifications: false },
      { relayUrl: RELAY, apiKey: KEY },
      { relayUrl: RELAY, apiKey: 7, notifications: true },
      'nonsense',
      undefined,
    ];
    for (const value of values) {
      await fakeBrowser.storage.local.clear();
      if (value !== undefined) await fakeBrowser.storage.local.set({ [SETTINGS_KEY]: value });
      const stored = (await fakeBrowser.storage.local.get(SETTINGS_KEY))[SETTINGS_KEY];
      expect(settingsFrom(stored), JSON.stringify(value)).toEqual(await loadSettings());
    }
  });
});
