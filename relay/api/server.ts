import type { Server } from 'node:http';
import { serve } from '@hono/node-server';

/**
 * The relay's HTTP server: @hono/node-server over node:http, with timeouts of its own.
 *
 * Node's defaults suit nobody in particular: 60 s to send the headers and 300 s for a whole
 * request let a client that trickles its headers (or its body) a byte at a time hold a
 * connection, and its parser, for minutes; a few hundred such clients are all it takes. The
 * relay's requests are small (bodies at most 64 KiB, see body-limit.ts), so they get short limits.
 *
 * None of them cuts a live event stream (GET /api/v1/events), which may stay open for hours:
 * - `headersTimeout` and `requestTimeout` only run until the request has been received, and a
 *   GET is received with its headers; the response that follows is not timed by them.
 * - `keepAliveTimeout` only runs between requests, once a response has ended.
 * - The socket's idle timeout (`server.timeout`) would cut a quiet stream, so it stays off (0, as
 *   in Node): the events route has its own heartbeat and its own timeout for a client that stops
 *   reading (events.ts), and keepAliveTimeout covers idle connections.
 */
export interface HttpTimeouts {
  /** Time for a client to send the whole request head. */
  headersTimeoutMs: number;
  /** Time for a client to send the whole request, body included. Not less than headersTimeoutMs. */
  requestTimeoutMs: number;
  /** How long an idle kept-alive connection waits for its next request. */
  keepAliveTimeoutMs: number;
  /** How often Node looks for requests past headersTimeoutMs or requestTimeoutMs. */
  checkIntervalMs: number;
}

export const HTTP_TIMEOUTS: Readonly<HttpTimeouts> = {
  // Headers are a few hundred bytes: ten seconds is generous even on a poor mobile link.
  headersTimeoutMs: 10_000,
  // 64 KiB at the most.
  requestTimeoutMs: 30_000,
  // Longer than the 60 s a reverse proxy (nginx, cloud load balancers) keeps an idle upstream
  // connection: closing first would race the proxy's next request on that connection (a 502).
  keepAliveTimeoutMs: 65_000,
  // Node's default is 30 s, which would let a slow client run 30 s past its limit.
  checkIntervalMs: 1_000,
};

export interface ListenOptions {
  hostname: string;
  port: number;
  /** Shorter ones in tests. */
  timeouts?: Partial<HttpTimeouts>;
}

/** The timeouts in force: `overrides` over the defaults, each at least 1 ms, requests no shorter than their headers. */
export function httpTimeouts(overrides: Partial<HttpTimeouts> = {}): HttpTimeouts {
  const pick = (key: keyof HttpTimeouts) => {
    const value = overrides[key];
    return value !== undefined && Number.isFinite(value) ? Math.max(1, Math.trunc(value)) : HTTP_TIMEOUTS[key];
  };
  const headersTimeoutMs = pick('headersTimeoutMs');
  // Node refuses a headersTimeout above requestTimeout.
  const requestTimeoutMs = Math.max(headersTimeoutMs, pick('requestTimeoutMs'));
  return { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs: pick('keepAliveTimeoutMs'), checkIntervalMs: pick('checkIntervalMs') };
}

/** Serves `fetch` on hostname:port with the relay's timeouts; resolves once listening. */
export function listen(fetch: Parameters<typeof serve>[0]['fetch'], options: ListenOptions): Promise<Server> {
  const timeouts = httpTimeouts(options.timeouts);
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch,
        hostname: options.hostname,
        port: options.port,
        // The checking interval can only be given here, when the server is made.
        serverOptions: {
          headersTimeout: timeouts.headersTimeoutMs,
          requestTimeout: timeouts.requestTimeoutMs,
          connectionsCheckingInterval: timeouts.checkIntervalMs,
        },
      },
      () => resolve(server as Server),
    ) as Server;
    // The property, documented on every Node the relay supports (the option came later).
    server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
    server.timeout = 0;
    server.once('error', reject);
  });
}
