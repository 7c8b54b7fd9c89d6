import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSseParser, followEvents, type LiveEvent, type SseMessage } from '../../../extension/lib/sse-client';
import type { RelayProblem } from '../../../extension/lib/problems';
import { DOUBLE_KEY, eventually, makeRequest, RelayDouble } from '../helpers/relay-double';

function parseAll(chunks: string[], initialId = '') {
  const messages: SseMessage[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const parser = createSseParser(
    { onMessage: (m) => messages.push(m), onRetry: (ms) => retries.push(ms), onComment: (c) => comments.push(c) },
    initialId,
  );
  for (const chunk of chunks) parser.push(chunk);
  return { messages, retries, comments, parser };
}

/** Every way of cutting `text` in two, plus one character at a time. */
function splits(text: string): string[][] {
  const out: string[][] = [[...text]];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

describe('the event-stream parser', () => {
  const stream =
    ': hello\n' +
    'retry: 2500\n\n' +
    'id: 1\nevent: request.created\ndata: {"a":1}\n\n' +
    'id: 2\r\nevent: summary\r\ndata: line one\r\ndata:line two\r\n\r\n' +
    'event: reply.updated\rdata: no id here\r\r' +
    'data\n\n' +
    'id: 3\n\n' +
    'event: ignored\n\n' +
    'retry: soon\n' +
    'id: bad\u0000id\n' +
    'data: last\n\n' +
    'data: incomplete';
  const expected: SseMessage[] = [
    { id: '1', event: 'request.created', data: '{"a":1}' },
    { id: '2', event: 'summary', data: 'line one\nline two' },
    { id: '2', event: 'reply.updated', data: 'no id here' },
    { id: '2', event: 'message', data: '' },
    { id: '3', event: 'message', data: 'last' },
  ];

  it('reads messages, however the chunks are cut', () => {
    for (const chunks of splits(stream)) {
      const { messages, retries, comments, parser } = parseAll(chunks);
      expect(messages).toEqual(expected);
      expect(retries).toEqual([2500]);
      expect(comments).toEqual([' hello']);
      expect(parser.lastEventId).toBe('3');
    }
  });

  it('starts from a given Last-Event-ID and keeps it for events without an id', () => {
    const { messages } = parseAll(['data: x\n\n'], '41');
    expect(messages).toEqual([{ id: '41', event: 'message', data: 'x' }]);
  });

  it('a block without data dispatches nothing, but its id counts', () => {
    const { messages, parser } = parseAll(['id: 9\nevent: summary\n\n']);
    expect(messages).toEqual([]);
    expect(parser.lastEventId).toBe('9');
  });
});

// ---------------------------------------------------------------------------------------------

interface RawServer {
  url: string;
  requests: IncomingMessage[];
  close(): Promise<void>;
}

async function rawServer(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<RawServer> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    handler(req, res, requests.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const FAST = { retryMs: 20, maxDelayMs: 100, keyRefusedDelayMs: 60_000, idleTimeoutMs: 5_000 };

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function follow(url: string, extra: Partial<Parameters<typeof followEvents>[1]> = {}, apiKey = 'k-1') {
  const controller = new AbortController();
  const events: LiveEvent[] = [];
  const problems: RelayProblem[] = [];
  let opens = 0;
  const done = followEvents(
    { relayUrl: url, apiKey },
    {
      signal: controller.signal,
      onEvent: (e) => events.push(e),
      onOpen: () => void opens++,
      onProblem: (p) => problems.push(p),
      timing: FAST,
      ...extra,
    },
  );
  cleanup.push(async () => {
    controller.abort();
    await done;
  });
  return { controller, events, problems, done, opens: () => opens };
}

describe('followEvents over HTTP', () => {
  it('sends the key, parses split chunks, honours retry:, and resumes with Last-Event-ID', async () => {
    const server = await rawServer((req, res, n) => {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      if (n === 1) {
        // Cut mid-field and mid-line; a comment, a multi-line data, an unknown type and bad JSON.
        const parts = [
          'retry: 30\n\n: ping\n\nid: 7\nev',
          'ent: request.created\ndata: {"id":',
          '"a"}\n\nid: 8\nevent: summary\ndata: {"counts":\ndata: {"pending":1}}\n\n',
          'id: 9\nevent: something.else\ndata: {}\n\nid: 10\nevent: request.updated\ndata: not json\n\n',
        ];
        let i = 0;
        const next = () => {
          if (i < parts.length) {
            res.write(parts[i++]);
            setTimeout(next, 5);
          } else res.end();
        };
        next();
      } else {
        res.write('id: 11\nevent: reply.updated\ndata: {"requestId":"a"}\n\n');
      }
    });
    cleanup.push(() => server.close());
    const live = follow(server.url);
    await eventually(() => live.events.length >= 3, 3000, 'three events');
    expect(live.events).toEqual([
      { id: '7', type: 'request.created', data: { id: 'a' } },
      { id: '8', type: 'summary', data: { counts: { pending: 1 } } },
      { id: '11', type: 'reply.updated', data: { requestId: 'a' } },
    ]);
    const [first, second] = server.requests;
    expect(first?.headers.authorization).toBe('Bearer k-1');
    expect(first?.headers.accept).toBe('text/event-stream');
    expect(first?.headers['last-event-id']).toBeUndefined();
    // The unknown and unparsable events' ids count too: the relay resumes after them.
    expect(second?.headers['last-event-id']).toBe('10');
    expect(live.opens()).toBe(2);
    expect(live.problems).toEqual([]);
  });

  it('waits the relay’s retry: before reconnecting after a clean end', async () => {
    const times: number[] = [];
    const server = await rawServer((_req, res, n) => {
      times.push(Date.now());
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (n === 1) res.end('retry: 400\nid: 1\nevent: summary\ndata: {}\n\n');
    });
    cleanup.push(() => server.close());
    follow(server.url, { timing: { ...FAST, maxDelayMs: 5000 } });
    await eventually(() => times.length === 2, 3000, 'the reconnect');
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(380);
    expect(server.requests[1]?.headers['last-event-id']).toBe('1');
  });

  it('starts from a given lastEventId', async () => {
    const server = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
    });
    cleanup.push(() => server.close());
    const live = follow(server.url, { lastEventId: '123' });
    await eventually(() => server.requests.length === 1);
    expect(server.requests[0]?.headers['last-event-id']).toBe('123');
    expect(live.problems).toEqual([]);
  });

  it('401: reports key_refused and does not retry fast', async () => {
    const server = await rawServer((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"unauthorized","message":"A valid API key is required."}}');
    });
    cleanup.push(() => server.close());
    const live = follow(server.url);
    await eventually(() => live.problems.length === 1);
    await sleep(300);
    expect(server.requests).toHaveLength(1);
    expect(live.problems.map((p) => p.problem)).toEqual(['key_refused']);
    // Aborting ends it at once, even in the long wait.
    const started = Date.now();
    live.controller.abort();
    await live.done;
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('an unreachable relay: reports it and backs off (capped), until aborted', async () => {
    const server = await rawServer(() => undefined);
    const url = server.url;
    await server.close();
    const live = follow(url);
    await eventually(() => live.problems.length >= 3, 3000, 'three attempts');
    expect(new Set(live.problems.map((p) => p.problem))).toEqual(new Set(['unreachable']));
  });

  it('an answer that is not an event stream is a relay_error, with the relay’s message', async () => {
    const server = await rawServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"unavailable","message":"Live events are unavailable right now; retry shortly."}}');
    });
    cleanup.push(() => server.close());
    const live = follow(server.url);
    await eventually(() => live.problems.length >= 1);
    expect(live.problems[0]).toMatchObject({ problem: 'relay_error', detail: 'Live events are unavailable right now; retry shortly.' });
  });

  it('a 400 for an unknown Last-Event-ID starts afresh without one', async () => {
    const server = await rawServer((req, res) => {
      if (req.headers['last-event-id']) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":{"code":"bad_last_event_id","message":"no"}}');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('id: 1\nevent: summary\ndata: {}\n\n');
    });
    cleanup.push(() => server.close());
    const live = follow(server.url, { lastEventId: 'from-another-db' });
    await eventually(() => live.events.length === 1);
    expect(server.requests.map((r) => r.headers['last-event-id'])).toEqual(['from-another-db', undefined]);
  });

  it('a silent connection (no heartbeat) is dropped after the idle timeout and reopened', async () => {
    const server = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': hi\n\n');
    });
    cleanup.push(() => server.close());
    follow(server.url, { timing: { ...FAST, idleTimeoutMs: 100 } });
    await eventually(() => server.requests.length >= 3, 3000, 'reconnects');
  });

  it('resolves when aborted mid-stream', async () => {
    const server = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('retry: 10\n\n');
    });
    cleanup.push(() => server.close());
    const live = follow(server.url);
    await eventually(() => live.opens() === 1);
    live.controller.abort();
    await expect(live.done).resolves.toBeUndefined();
  });
});

describe('followEvents against the relay-shaped double', () => {
  it('gets the summary first, then live events; resumes after a dropped stream', async () => {
    const relay = await new RelayDouble().start();
    cleanup.push(() => relay.close());
    const live = follow(relay.url, {}, DOUBLE_KEY);
    await eventually(() => live.events.length === 1);
    expect(live.events[0]?.type).toBe('summary');
    const request = makeRequest();
    await relay.add(request);
    await eventually(() => live.events.length === 2);
    expect(live.events[1]).toEqual({ id: '1', type: 'request.created', data: request });

    relay.dropStreams();
    await relay.update(request.id, 'CRSUC'); // while nobody listens
    await eventually(() => live.events.length === 3, 3000, 'the missed event');
    expect(live.events[2]).toMatchObject({ id: '2', type: 'request.updated' });
    expect(relay.calls.filter((c) => c.path === '/api/v1/events').map((c) => c.lastEventId)).toEqual([undefined, '1']);
  });
});
