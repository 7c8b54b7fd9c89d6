import { connect as tcpConnect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionRequest, Summary, SseEventData } from '../../../../shared/models.js';
import { watchSummary } from '../../../../relay/ingest/summary.js';
import { record } from '../../store/helpers.js';
import { connectSse, eventually, type SseConnection, type SseMessage } from '../../../helpers/sse-client.js';
import { EventsServer, expectContract } from './events-server.js';
import { TESTER } from '../../store/helpers.js';
import { ApiServer } from '../helpers.js';

const open: SseConnection[] = [];
let server: EventsServer | undefined;

async function start(options: ConstructorParameters<typeof EventsServer>[0] = {}): Promise<EventsServer> {
  server = await new EventsServer({ heartbeatMs: 60_000, ...options }).start();
  return server;
}
async function sse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  const connection = await connectSse(url, headers);
  open.push(connection);
  return connection;
}
const dataOf = (message: SseMessage | undefined): { id?: string; counts?: unknown } =>
  message === undefined ? {} : (JSON.parse(message.data) as { id?: string });
const requestIds = (messages: readonly SseMessage[]): string[] =>
  messages.filter((m) => m.event.startsWith('request.')).map((m) => dataOf(m).id ?? '?');

afterEach(async () => {
  for (const connection of open.splice(0)) connection.close();
  await server?.stop();
  server = undefined;
});

describe('GET /api/v1/events', () => {
  it('answers as an event stream: headers, retry, then a summary with the latest id', async () => {
    const s = await start({ retryMs: 1234 });
    s.store.requests.upsertFromConcur([record('A'), record('B', { status: 'CREU1' })], s.harness.clock.iso());
    const latest = s.store.events.latestId();

    const client = await sse(s.url);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(client.headers.get('cache-control')).toBe('no-store, no-transform');
    expect(client.headers.get('x-accel-buffering')).toBe('no');

    const [first] = await client.waitForMessages(1);
    expect(client.retries).toEqual([1234]);
    expect(client.raw().startsWith('retry: 1234\n\n')).toBe(true);
    expect(first?.event).toBe('summary');
    expect(first?.id).toBe(String(latest));
    expect(Summary.parse(JSON.parse(first?.data ?? '')).counts).toEqual({ pending: 1, failed: 1, connected: 0 });
    expect(s.metrics.sseClients).toBe(1);
    expect(s.subscribers).toBe(1);
    expectContract(client.messages);
  });

  it('pushes a new request to a connected client promptly, with strictly increasing ids', async () => {
    const s = await start();
    const client = await sse(s.url);
    await client.waitForMessages(1);

    const before = Date.now();
    s.store.requests.upsertFromConcur([record('NEW-1')], s.harness.clock.iso());
    const messages = await client.waitForMessages(2, 2000);
    expect(Date.now() - before).toBeLessThan(1000);
    expect(messages[1]?.event).toBe('request.created');
    expect(dataOf(messages[1]).id).toBe('NEW-1');
    expect(messages[1]?.id).toBe(String(s.store.events.latestId()));

    s.store.requests.upsertFromConcur([record('NEW-1', { status: 'CREU2' }), record('NEW-2')], s.harness.clock.advance(1000));
    const all = await client.waitForMessages(4);
    expect(all.slice(2).map((m) => m.event)).toEqual(['request.updated', 'request.created']);
    expectContract(all);
  });

  it.each([
    ['the Last-Event-ID header', (id: string) => ({ headers: { 'last-event-id': id }, query: '' })],
    ['?lastEventId=', (id: string) => ({ headers: {}, query: `?lastEventId=${id}` })],
  ])('resumes with %s: exactly what was missed, nothing it had', async (_name, resume) => {
    const s = await start({ batchSize: 2 });
    const first = await sse(s.url);
    await first.waitForMessages(1);
    s.store.requests.upsertFromConcur([record('HAD-1'), record('HAD-2')], s.harness.clock.iso());
    const had = await first.waitForMessages(3);
    const lastSeen = had[2]?.id ?? '';
    first.close();
    await eventually(() => s.metrics.sseClients === 0, 2000, 'the first client to go');

    // Missed while away: more than one batch, and a state change that is not an SSE event.
    s.store.requests.upsertFromConcur([record('MISS-1'), record('MISS-2'), record('MISS-3')], s.harness.clock.advance(1000));
    s.store.state.updateConcurStatus({ state: 'degraded', lastError: 'bad XML' });
    s.store.requests.upsertFromConcur([record('HAD-1', { status: 'CRSUC' })], s.harness.clock.advance(1000));

    const { headers, query } = resume(lastSeen);
    const again = await sse(`${s.url}${query}`, headers);
    expect(again.status).toBe(200);
    const missed = await again.waitForMessages(4);
    expect(missed.map((m) => m.event)).toEqual(['request.created', 'request.created', 'request.created', 'request.updated']);
    expect(requestIds(missed)).toEqual(['MISS-1', 'MISS-2', 'MISS-3', 'HAD-1']);
    expect(Number(missed[0]?.id)).toBeGreaterThan(Number(lastSeen));

    // And then live, with nothing in between.
    s.store.requests.upsertFromConcur([record('LIVE')], s.harness.clock.advance(1000));
    const all = await again.waitForMessages(5);
    expect(requestIds(all)).toEqual(['MISS-1', 'MISS-2', 'MISS-3', 'HAD-1', 'LIVE']);
    expect(all.some((m) => m.event === 'summary')).toBe(false);
    expectContract(all);
  });

  it('lets the header win over the query parameter', async () => {
    const s = await start();
    s.store.requests.upsertFromConcur([record('A'), record('B')], s.harness.clock.iso());
    const afterA = s.store.events.latestId() - 1;
    const client = await sse(`${s.url}?lastEventId=garbage`, { 'Last-Event-ID': String(afterA) });
    expect(client.status).toBe(200);
    const [only] = await client.waitForMessages(1);
    expect(dataOf(only).id).toBe('B');
  });

  it('answers a Last-Event-ID older than the retained history with a summary, then the oldest retained', async () => {
    const s = await start();
    s.store.requests.upsertFromConcur(
      ['A', 'B', 'C', 'D', 'E', 'F'].map((id) => record(id)),
      s.harness.clock.iso(),
    );
    expect(s.store.events.prune(3)).toBe(3);
    const oldest = s.store.events.oldestId() ?? 0;

    const client = await sse(s.url, { 'Last-Event-ID': '1' });
    const messages = await client.waitForMessages(4);
    expect(messages[0]?.event).toBe('summary');
    expect(messages[0]?.id).toBe(String(oldest - 1));
    expect(Summary.parse(JSON.parse(messages[0]?.data ?? '')).counts.pending).toBe(6);
    expect(requestIds(messages.slice(1))).toEqual(['D', 'E', 'F']);
    expect(messages[1]?.id).toBe(String(oldest));
    expectContract(messages);
  });

  it('treats a Last-Event-ID beyond the latest (another or a reset database) as a new client', async () => {
    const s = await start();
    s.store.requests.upsertFromConcur([record('A')], s.harness.clock.iso());
    const client = await sse(s.url, { 'Last-Event-ID': '999999' });
    const [first] = await client.waitForMessages(1);
    expect(first?.event).toBe('summary');
    expect(first?.id).toBe(String(s.store.events.latestId()));
    s.store.requests.upsertFromConcur([record('B')], s.harness.clock.iso());
    const messages = await client.waitForMessages(2);
    expect(dataOf(messages[1]).id).toBe('B');
  });

  it.each(['abc', '-1', '1.5', '1e3', '0x10', '99999999999999999999', '12 34'])(
    'refuses Last-Event-ID %j with 400 bad_last_event_id',
    async (value) => {
      const s = await start();
      for (const [headers, query] of [
        [{ 'last-event-id': value }, ''],
        [{}, `?lastEventId=${encodeURIComponent(value)}`],
      ] as const) {
        const res = await fetch(`${s.url}${query}`, { headers });
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('bad_last_event_id');
        expect(body.error.message).toMatch(/Last-Event-ID/);
      }
      expect(s.metrics.sseClients).toBe(0);
      expect(s.subscribers).toBe(0);
    },
  );

  it.each([' 10', '10 ', '+10', '\t1'])('refuses ?lastEventId=%j: a query integer is plain digits, nothing around them', async (value) => {
    const s = await start();
    const res = await fetch(`${s.url}?lastEventId=${encodeURIComponent(value)}`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('bad_last_event_id');
    expect(s.metrics.sseClients).toBe(0);
  });

  it('sends a comment heartbeat', async () => {
    const s = await start({ heartbeatMs: 40 });
    const client = await sse(s.url);
    await client.waitFor(() => (client.comments.length >= 2 ? true : undefined), 2000, 'two heartbeats');
    expect(client.comments[0]).toBe(' ping');
    expect(client.raw()).toContain('\n\n: ping\n\n');
    expect(client.messages.map((m) => m.event)).toEqual(['summary']);
  });

  it('never sends concur.state_changed rows, yet moves past them', async () => {
    const s = await start();
    const client = await sse(s.url);
    await client.waitForMessages(1);
    const change = s.store.state.updateConcurStatus({ state: 'unauthorized', lastError: '401 from Concur' });
    expect(change.changed).toBe(true);
    const stateEventId = s.store.events.latestId();
    s.store.requests.upsertFromConcur([record('AFTER')], s.harness.clock.iso());
    const messages = await client.waitForMessages(2);
    expect(messages[1]?.event).toBe('request.created');
    expect(Number(messages[1]?.id)).toBeGreaterThan(stateEventId);
    expect(client.raw()).not.toContain('concur.state_changed');
    expect(client.messages.every((m) => m.id !== String(stateEventId))).toBe(true);
  });

  it('never carries a request token', async () => {
    const s = await start();
    const client = await sse(s.url);
    await client.waitForMessages(1);
    s.store.requests.upsertFromConcur(
      [record('T1', { requestToken: 'tok-AAAA-very-secret' }), record('T2', { requestToken: 'tok-BBBB-very-secret' })],
      s.harness.clock.iso(),
    );
    s.store.requests.upsertFromConcur([record('T1', { requestToken: 'tok-CCCC-very-secret' })], s.harness.clock.advance(1000));
    s.store.replies.enqueue('T2', 'CRSUC', { actor: TESTER });
    await client.waitFor(
      () => (client.messages.some((m) => m.event === 'reply.updated') && client.messages.length >= 4 ? true : undefined),
      2000,
      'the reply event',
    );
    // Replayed too.
    const replay = await sse(s.url, { 'last-event-id': '0' });
    await replay.waitForMessages(4);
    for (const text of [client.raw(), replay.raw()]) {
      expect(text).not.toMatch(/very-secret|"requestToken"|request_token|secret-request-token/);
    }
    expect(s.store.requests.getRequestToken('T1')).toBe('tok-CCCC-very-secret');
    expectContract(client.messages);
    expectContract(replay.messages);
  });

  it('cleans up on disconnect: no subscriber, no timer, the gauge back to 0', async () => {
    const s = await start({ heartbeatMs: 20 });
    const clients = await Promise.all([sse(s.url), sse(s.url), sse(s.url)]);
    await Promise.all(clients.map((c) => c.waitForMessages(1)));
    expect(s.metrics.sseClients).toBe(3);
    expect(s.subscribers).toBe(3);
    expect(await s.metrics.render(s.store)).toContain('triplink_sse_clients 3');

    clients[0]?.close();
    await eventually(() => s.metrics.sseClients === 2 && s.subscribers === 2, 2000, 'one client gone');
    clients[1]?.close();
    clients[2]?.close();
    await eventually(() => s.metrics.sseClients === 0 && s.subscribers === 0, 2000, 'all clients gone');
    await eventually(() => true, 10);
    // Writes after the disconnects find nobody and break nothing.
    s.store.requests.upsertFromConcur([record('LATE')], s.harness.clock.iso());
    expect(s.metrics.sseClients).toBe(0);
  });

  it('keeps internal errors to itself: the stream is dropped, nothing leaks, the gauge returns to 0', async () => {
    const s = await start();
    const client = await sse(s.url);
    await client.waitForMessages(1);
    s.failReads = new Error('SQLITE_CORRUPT: internal detail /var/lib/relay.sqlite');
    s.store.requests.upsertFromConcur([record('X')], s.harness.clock.iso());
    await client.waitForEnd(2000);
    await eventually(() => s.metrics.sseClients === 0 && s.subscribers === 0, 2000, 'cleanup');
    expect(client.raw()).not.toMatch(/event: error|SQLITE|internal detail/);
    expect(client.messages.map((m) => m.event)).toEqual(['summary']);
    expect(s.logs.some((log) => log.msg === 'event stream failed' && log.level === 50)).toBe(true);

    // At connect, a broken store is a clean 503 with no internal text.
    const res = await fetch(s.url);
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ error: { code: 'unavailable' } });
    expect(text).not.toMatch(/SQLITE|internal detail/);
    expect(s.metrics.sseClients).toBe(0);
  });

  it('ends every stream cleanly on shutdown and refuses new ones', async () => {
    const s = await start();
    const client = await sse(s.url);
    await client.waitForMessages(1);
    s.shutdown.abort();
    await client.waitForEnd(2000);
    await eventually(() => s.metrics.sseClients === 0 && s.subscribers === 0, 2000, 'cleanup');
    const res = await fetch(s.url);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('shutting_down');
  });

  it('delivers the summaries watchSummary stores, live and on replay', async () => {
    const s = await start();
    const stop = await watchSummary(s.store);
    try {
      const client = await sse(s.url);
      await client.waitForMessages(1);
      s.store.requests.upsertFromConcur([record('W1'), record('W2', { status: 'CRSUC' })], s.harness.clock.iso());
      const messages = await client.waitForMessages(4);
      expect(messages.map((m) => m.event)).toEqual(['summary', 'request.created', 'request.created', 'summary']);
      expect(Summary.parse(JSON.parse(messages[3]?.data ?? '')).counts).toEqual({ pending: 1, failed: 0, connected: 1 });
      expectContract(messages);

      const replay = await sse(s.url, { 'last-event-id': messages[1]?.id ?? '' });
      const replayed = await replay.waitForMessages(2);
      expect(replayed.map((m) => m.event)).toEqual(['request.created', 'summary']);
    } finally {
      stop();
    }
  });
});

describe('slow clients', () => {
  /** A raw HTTP client that sends the request and then never reads a byte. */
  function stalledClient(s: EventsServer): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = tcpConnect(s.address.port, s.address.host, () => {
        socket.write(`GET /api/v1/events HTTP/1.1\r\nHost: ${s.address.host}\r\nAccept: text/event-stream\r\n\r\n`);
        socket.pause();
        resolve(socket);
      });
      socket.on('error', () => undefined);
      socket.once('error', reject);
    });
  }

  /** Appends big summary events, one per tick, until the server has dropped the client (or a bound). */
  async function floodUntilDropped(s: EventsServer): Promise<number> {
    const summary = s.store.state.summary();
    const big = { ...summary, concur: { ...summary.concur, lastError: 'x'.repeat(512 * 1024) } };
    let appended = 0;
    while (s.metrics.sseClients > 0 && appended < 300) {
      s.store.events.append('summary', big);
      appended += 1;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return appended;
  }

  it.each([
    ['falls more than maxLag events behind', { maxLag: 5, writeTimeoutMs: 60_000 }],
    ['leaves a write untaken past the write timeout', { maxLag: 1_000_000, writeTimeoutMs: 150 }],
  ])('drops a client that %s; the gauge returns to 0', async (_name, options) => {
    const s = await start(options);
    const socket = await stalledClient(s);
    try {
      await eventually(() => s.metrics.sseClients === 1, 2000, 'the stalled client to connect');
      const appended = await floodUntilDropped(s);
      expect(appended).toBeLessThan(300);
      await eventually(() => s.metrics.sseClients === 0 && s.subscribers === 0, 3000, 'the slow client to be dropped');
      // The connection itself is gone, not just the stream.
      let connections = -1;
      for (let i = 0; i < 200 && connections !== 0; i += 1) {
        connections = await s.connections();
        if (connections !== 0) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(connections).toBe(0);
      const dropped = s.logs.find((log) => log.msg === 'event stream dropped');
      expect(dropped?.reason).toBe(options.maxLag === 5 ? 'lagging' : 'write_timeout');

      // A normal client still works and can resume from the log.
      const client = await sse(s.url, { 'last-event-id': String(s.store.events.latestId() - 1) });
      const [last] = await client.waitForMessages(1);
      expect(last?.event).toBe('summary');
      expect(last?.id).toBe(String(s.store.events.latestId()));
    } finally {
      socket.destroy();
    }
  });
});

describe('who asked for a reply', () => {
  it('is on reply.updated and on the request events that carry the reply, as the key that asked is named', async () => {
    const api = await new ApiServer().start({ deps: { events: { heartbeatMs: 60_000 } } });
    try {
      api.store.requests.upsertFromConcur([record('R1')], api.clock.iso());
      const rita = api.keyFor('replier', 'Rita');
      const client = await sse(`${api.url}/api/v1/events`, api.keyFor('viewer', 'Vera').auth);
      await client.waitForMessages(1);
      expect((await api.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, rita.auth)).status).toBe(202);
      // Concur shows the request again, changed: request.updated carries the reply as it stands.
      api.store.requests.upsertFromConcur([record('R1', { lastModified: '2024-05-01T09:30:00Z', firstName: 'Augusta' })], api.clock.advance(1000));
      const [, replyUpdated, requestUpdated] = await client.waitForMessages(3);
      expect(replyUpdated?.event).toBe('reply.updated');
      expect(SseEventData['reply.updated'].parse(JSON.parse(replyUpdated!.data))).toMatchObject({
        requestId: 'R1',
        reply: { status: 'CRSUC', state: 'queued', requestedBy: 'Rita' },
      });
      expect(requestUpdated?.event).toBe('request.updated');
      expect(ConnectionRequest.parse(JSON.parse(requestUpdated!.data))).toMatchObject({
        id: 'R1',
        firstName: 'Augusta',
        reply: { status: 'CRSUC', requestedBy: 'Rita' },
      });
      expectContract(client.messages);
    } finally {
      for (const connection of open.splice(0)) connection.close();
      await api.stop();
    }
  });
});
