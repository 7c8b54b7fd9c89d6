import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { Connection, ConnectionsPage, ConnectionsQuery, type ExchangeStatus } from '../../../shared/connections.js';
import {
  ConnectionRequest,
  ReplyBody,
  ReplyResponse,
  RequestsPage,
  RequestsQuery,
  SseEventData,
  Summary,
  type ConcurState,
  type SseEventType,
} from '../../../shared/models.js';
import type { AutoConnect } from '../../../shared/match.js';
import { Me } from '../../../shared/people.js';
import { groupOf, type StatusCode } from '../../../shared/status.js';

/**
 * A relay-shaped HTTP server on loopback for the extension's tests: /api/v1/summary,
 * /api/v1/requests (and a request's reply), /api/v1/connections and /api/v1/events, answering in
 * the shared models (every answer is checked against the shared schemas before it goes out). The
 * real relay is tested elsewhere; this one is small enough to steer (add a request, refuse the
 * key, push an event, drop the stream, connect a request, take the exchange away).
 */

export const DOUBLE_KEY = 'extension-test-key-0123456789';

let sequence = 0;

/** A valid ConnectionRequest with sensible defaults. */
export function makeRequest(overrides: Partial<ConnectionRequest> & { id?: string } = {}): ConnectionRequest {
  sequence += 1;
  const status: StatusCode = overrides.status ?? 'Pending';
  const now = new Date(Date.UTC(2025, 0, 1, 12, 0, sequence % 60)).toISOString();
  return ConnectionRequest.parse({
    id: `req-${sequence}`,
    uri: null,
    firstName: 'Ada',
    middleName: null,
    lastName: `Traveller${sequence}`,
    loyaltyNumber: `LN${1000 + sequence}`,
    discountCode: null,
    status,
    group: groupOf(status),
    lastModified: now,
    firstSeenAt: now,
    requestTokenExpiresAt: null,
    retries: 0,
    retryLimit: 5,
    userErrors: 0,
    userErrorLimit: null,
    userId: null,
    emailAddresses: [],
    reply: null,
    connectionId: null,
    match: null,
    ...overrides,
  });
}

interface LoggedEvent {
  id: number;
  type: SseEventType;
  data: unknown;
}

export class RelayDouble {
  requests: ConnectionRequest[] = [];
  concurState: ConcurState = 'ok';
  apiKey = DOUBLE_KEY;
  /** Who the key is (`GET /api/v1/me`); null: the route is missing, as on a relay from before it. */
  me: Me | null = null;
  /** Whether a CRSUC can be carried out (the summary's `exchange`); unavailable: a CRSUC is refused with 422. */
  exchange: ExchangeStatus = { state: 'ok', reason: null };
  /** What auto-connect does (the summary's `autoConnect`): by default, as a relay without a member directory. */
  autoConnect: AutoConnect = { policy: 'off', directory: false };
  /** `GET /api/v1/connections`, newest first; null: the route is missing, as on a relay from before it. */
  connections: Connection[] | null = null;
  /** Every call: path and the headers that matter. */
  readonly calls: Array<{ path: string; authorization: string | undefined; lastEventId: string | undefined }> = [];
  url = '';
  private server: Server | undefined;
  private readonly streams = new Set<SSEStreamingApi>();
  private readonly log: LoggedEvent[] = [];

  summary(): Summary {
    const count = (group: string) => this.requests.filter((r) => r.group === group).length;
    const at = '2025-01-01T12:00:00.000Z';
    return Summary.parse({
      counts: { pending: count('pending'), failed: count('failed'), connected: count('connected') },
      concur: {
        state: this.concurState,
        lastPollAt: at,
        lastSuccessAt: this.concurState === 'ok' ? at : null,
        lastError: this.concurState === 'ok' ? null : 'Concur answered 503',
      },
      exchange: this.exchange,
      autoConnect: this.autoConnect,
    });
  }

  async start(): Promise<this> {
    const app = new Hono();
    // CORS as the relay does it for extension origins (the origin echoed, Authorization and
    // Last-Event-ID allowed); a happy-dom page's origin stands in for an extension's here.
    app.use(
      '/api/v1/*',
      cors({ origin: (origin) => origin, allowHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID'], credentials: false }),
    );
    app.use('/api/v1/*', async (c, next) => {
      if (c.req.method === 'OPTIONS') return next();
      this.calls.push({
        path: c.req.path,
        authorization: c.req.header('authorization'),
        lastEventId: c.req.header('last-event-id'),
      });
      if (c.req.header('authorization') !== `Bearer ${this.apiKey}`) {
        return c.json({ error: { code: 'unauthorized', message: 'A valid API key is required.' } }, 401);
      }
      await next();
    });
    app.get('/api/v1/summary', (c) => c.json(this.summary()));
    app.get('/api/v1/me', (c) =>
      this.me === null ? c.json({ error: { code: 'not_found', message: 'No such route.' } }, 404) : c.json(Me.parse(this.me)),
    );
    app.get('/api/v1/requests', (c) => {
      const query = RequestsQuery.parse(c.req.query());
      const all = this.requests
        .filter((r) => query.group === undefined || r.group === query.group)
        .sort((a, b) => b.lastModified.localeCompare(a.lastModified));
      const offset = query.cursor ? Number(query.cursor) : 0;
      const items = all.slice(offset, offset + query.limit);
      const next = offset + query.limit < all.length ? String(offset + query.limit) : null;
      return c.json(RequestsPage.parse({ items, nextCursor: next }));
    });
    app.post('/api/v1/requests/:id/reply', async (c) => {
      const { status } = ReplyBody.parse(await c.req.json());
      const index = this.requests.findIndex((r) => r.id === c.req.param('id'));
      if (index === -1) return c.json({ error: { code: 'not_found', message: 'No such request.' } }, 404);
      if (status === 'CRSUC' && this.exchange.state === 'unavailable') {
        const message = this.exchange.reason ?? 'The relay cannot exchange request tokens.';
        return c.json({ error: { code: 'exchange_unavailable', message } }, 422);
      }
      const reply = { status, state: 'queued' as const, attempts: 0, lastError: null, updatedAt: new Date().toISOString(), requestedBy: 'test key' };
      this.requests[index] = ConnectionRequest.parse({ ...this.requests[index], reply });
      return c.json(ReplyResponse.parse({ reply }), 202);
    });
    app.get('/api/v1/connections', (c) => {
      if (this.connections === null) return c.json({ error: { code: 'not_found', message: 'No such route.' } }, 404);
      const query = ConnectionsQuery.parse(c.req.query());
      const all = this.connections.filter((x) => query.state === undefined || x.state === query.state);
      const offset = query.cursor ? Number(query.cursor) : 0;
      const next = offset + query.limit < all.length ? String(offset + query.limit) : null;
      return c.json(ConnectionsPage.parse({ items: all.slice(offset, offset + query.limit), nextCursor: next }));
    });
    app.get('/api/v1/events', (c) => {
      const header = c.req.header('last-event-id');
      return streamSSE(c, async (stream) => {
        this.streams.add(stream);
        stream.onAbort(() => {
          this.streams.delete(stream);
        });
        await stream.write('retry: 50\n\n');
        if (header === undefined) {
          const latest = this.log.at(-1)?.id ?? 0;
          await stream.writeSSE({ id: String(latest), event: 'summary', data: JSON.stringify(this.summary()) });
        } else {
          for (const event of this.log.filter((e) => e.id > Number(header))) await this.write(stream, event);
        }
        while (!stream.aborted && this.streams.has(stream)) await stream.sleep(20);
      });
    });
    const info = await new Promise<AddressInfo>((resolve) => {
      this.server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, resolve) as Server;
    });
    this.url = `http://127.0.0.1:${info.port}`;
    return this;
  }

  private async write(stream: SSEStreamingApi, event: LoggedEvent): Promise<void> {
    await stream.writeSSE({ id: String(event.id), event: event.type, data: JSON.stringify(event.data) });
  }

  /** Appends an event to the log and sends it to every open stream. */
  async emit(type: SseEventType, data: unknown): Promise<void> {
    const event: LoggedEvent = { id: (this.log.at(-1)?.id ?? 0) + 1, type, data: SseEventData[type].parse(data) };
    this.log.push(event);
    for (const stream of this.streams) await this.write(stream, event);
  }

  /** Adds a request (as the relay's poller would) and announces it. */
  async add(...requests: ConnectionRequest[]): Promise<void> {
    for (const request of requests) {
      this.requests.push(request);
      await this.emit('request.created', request);
    }
  }

  /** Moves a request to another status (e.g. a reply made it connected) and announces it. */
  async update(id: string, status: StatusCode): Promise<void> {
    const index = this.requests.findIndex((r) => r.id === id);
    const current = this.requests[index];
    if (!current) throw new Error(`no request ${id}`);
    const next = ConnectionRequest.parse({ ...current, status, group: groupOf(status) });
    this.requests[index] = next;
    await this.emit('request.updated', next);
  }

  /**
   * Stores a connection for a request (newest first, replacing one it had) and announces it, as
   * the relay does once it has exchanged the request token: `connection.created`, or
   * `connection.updated` for a change to one it has (or `type`). Listed only when `connections` is not null.
   */
  async connect(connection: Connection, type?: 'connection.created' | 'connection.updated'): Promise<void> {
    const known = this.connections?.some((x) => x.id === connection.id) ?? false;
    if (this.connections !== null) this.connections = [Connection.parse(connection), ...this.connections.filter((x) => x.id !== connection.id)];
    await this.emit(type ?? (known ? 'connection.updated' : 'connection.created'), connection);
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Ends every open event stream (clients reconnect). */
  dropStreams(): void {
    for (const stream of this.streams) void stream.close();
    this.streams.clear();
  }

  async close(): Promise<void> {
    this.dropStreams();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Polls until `check` holds (or fails after timeoutMs). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 3000, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
