import { once } from 'node:events';
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { HTTP_TIMEOUTS, httpTimeouts } from '../../../relay/api/server.js';
import { ApiServer, API_KEY, record } from './helpers.js';

/**
 * The server's own timeouts (relay/api/server.ts), made short here so that the tests are quick.
 * What is checked is what happens (a slow client is cut off, a live stream is not), never how
 * long it took.
 */
const SHORT = { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 200, checkIntervalMs: 50 };
/** Longer than every timeout above, several checks over. */
const LONGER_THAN_ALL = 1_500;

let s: ApiServer;
afterEach(async () => {
  await s.stop();
});

interface Trickle {
  /** Everything the server sent back. */
  received: string;
  /** How many of the bytes were written before the server closed the connection. */
  written: number;
  total: number;
}

/**
 * Writes `prefix` at once, then `text` one byte at a time, `gapMs` apart, until done or the
 * server closes the connection.
 */
async function trickle(port: number, prefix: string, text: string, gapMs: number): Promise<Trickle> {
  const socket: Socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(prefix);
  let received = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void ended.then(() => {
    closed = true;
  });
  const bytes = Buffer.from(text, 'latin1');
  let written = 0;
  while (written < bytes.length && !closed) {
    socket.write(bytes.subarray(written, written + 1));
    written += 1;
    await sleep(gapMs);
  }
  if (!closed) {
    // Sent in full: whatever the server answers, it answers now.
    await Promise.race([ended, sleep(1_000)]);
    socket.destroy();
  }
  return { received, written, total: bytes.length };
}

describe('the API server’s timeouts', () => {
  it('cuts off a client that sends its headers a byte at a time, slower than the header timeout (408)', async () => {
    s = await new ApiServer().start({ timeouts: SHORT });
    const port = Number(new URL(s.url).port);
    // 200 bytes of headers, one every 20 ms: four seconds in all, far over the 300 ms allowed.
    const head = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(140)}\r\n\r\n`;
    const result = await trickle(port, '', head, 20);
    expect(result.written).toBeLessThan(result.total);
    expect(result.received).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('cuts off a client that sends its body a byte at a time, slower than the request timeout (408)', async () => {
    s = await new ApiServer().start({ timeouts: SHORT });
    s.store.requests.upsertFromConcur([record('R1')], s.clock.iso());
    const port = Number(new URL(s.url).port);
    const body = `{"status":"CRSUC"${' '.repeat(150)}}`;
    const message =
      `POST /api/v1/requests/R1/reply HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${API_KEY}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    // The head at once, then the body a byte every 20 ms: over three seconds for 600 ms allowed.
    const result = await trickle(port, message, body, 20);
    expect(result.written).toBeLessThan(result.total);
    expect(result.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(s.store.replies.pendingCount()).toBe(0);
  });

  it('closes a kept-alive connection left idle past the keep-alive timeout', async () => {
    s = await new ApiServer().start({ timeouts: SHORT });
    const socket = connect(Number(new URL(s.url).port), '127.0.0.1');
    await once(socket, 'connect');
    const closed = once(socket, 'close');
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const [answer] = (await once(socket, 'data')) as [Buffer];
    expect(answer.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    // Nothing more is sent: the server ends the connection by itself.
    await closed;
  });

  it('keeps a live event stream open longer than every timeout, on a connection that served a request before', async () => {
    s = await new ApiServer().start({ timeouts: SHORT, deps: { events: { heartbeatMs: 60_000 } } });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const get = (path: string) =>
        new Promise<IncomingMessage>((resolve, reject) => {
          const req = httpRequest(`${s.url}${path}`, { agent, headers: { Authorization: `Bearer ${API_KEY}` } }, resolve);
          req.on('error', reject);
          req.end();
        });
      const first = await get('/api/v1/summary');
      first.resume();
      await once(first, 'end');

      const stream = await get('/api/v1/events');
      expect(stream.statusCode).toBe(200);
      let text = '';
      let ended = false;
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        text += chunk;
      });
      stream.on('close', () => {
        ended = true;
      });
      stream.on('error', () => undefined);

      // No heartbeat in this time: the stream is silent, and it must survive that too.
      await sleep(LONGER_THAN_ALL);
      expect(ended).toBe(false);
      s.store.requests.upsertFromConcur([record('LATE')], s.clock.iso());
      while (!text.includes('"id":"LATE"') && !ended) await sleep(20);
      expect(text).toContain('event: request.created');
      expect(text).toContain('"id":"LATE"');
      expect(ended).toBe(false);
      stream.destroy();
    } finally {
      agent.destroy();
    }
  });

  it('answers requests sent at a normal pace', async () => {
    s = await new ApiServer().start({ timeouts: SHORT });
    expect((await s.get('/healthz', {})).status).toBe(200);
  });

  it('has production defaults for a small API: seconds for a request, a minute for an idle connection', () => {
    expect(httpTimeouts()).toEqual(HTTP_TIMEOUTS);
    expect(HTTP_TIMEOUTS.headersTimeoutMs).toBeLessThanOrEqual(HTTP_TIMEOUTS.requestTimeoutMs);
    expect(HTTP_TIMEOUTS.requestTimeoutMs).toBeLessThanOrEqual(60_000);
    expect(HTTP_TIMEOUTS.checkIntervalMs).toBeLessThan(HTTP_TIMEOUTS.headersTimeoutMs);
    // Node refuses a header timeout over the request timeout: a request timeout is never shorter.
    expect(httpTimeouts({ headersTimeoutMs: 5_000, requestTimeoutMs: 1_000 })).toMatchObject({ headersTimeoutMs: 5_000, requestTimeoutMs: 5_000 });
  });

  it('applies them to the server', async () => {
    s = await new ApiServer().start();
    const server = s.httpServer;
    expect(server.headersTimeout).toBe(HTTP_TIMEOUTS.headersTimeoutMs);
    expect(server.requestTimeout).toBe(HTTP_TIMEOUTS.requestTimeoutMs);
    expect(server.keepAliveTimeout).toBe(HTTP_TIMEOUTS.keepAliveTimeoutMs);
    expect(server.timeout).toBe(0);
  });
});
