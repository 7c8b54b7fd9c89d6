import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDeps } from '../../../relay/api/app.js';
import { listen, type HttpTimeouts } from '../../../relay/api/server.js';
import { createLogger } from '../../../relay/base/log.js';
import { Metrics } from '../../../relay/base/metrics.js';
import { openStore, type Actor, type Store, type StoreOptions, type StoreParts } from '../../../relay/store/index.js';
import type { ApiKey } from '../../../shared/people.js';
import type { Role } from '../../../shared/roles.js';
import { TestClock, tempDb } from '../store/helpers.js';
import { TEST_VAULT } from '../../helpers/vault.js';

export { record } from '../store/helpers.js';

export const API_KEY = 'test-key-0123456789abcdef';
export const AUTH = { Authorization: `Bearer ${API_KEY}` } as const;
/** Who makes the keys a test needs straight in the store (as the `keys` command line would). */
export const SETUP: Actor = { keyId: null, name: 'test set-up' };

/** A key made for a test: its record, the key itself, and the header that sends it. */
export interface TestKey {
  key: ApiKey;
  secret: string;
  auth: { Authorization: string };
}

/** `Authorization: Bearer <secret>`. */
export const bearer = (secret: string) => ({ Authorization: `Bearer ${secret}` });

/** Every request token the store helpers make starts with this; no response may contain it. */
export const TOKEN_MARK = 'secret-request-token-';

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export interface ApiServerOptions {
  /** What the app is given in place of the store: the same, or parts of it answering otherwise (with promises too). */
  wrap?: (store: Store) => StoreParts;
  deps?: Partial<AppDeps>;
  store?: Omit<StoreOptions, 'clock' | 'vault'>;
  timeouts?: Partial<HttpTimeouts>;
  /**
   * A store the caller opened (e.g. on PostgreSQL, test/relay/store/databases.ts) on this server's
   * clock, for the app in place of its own SQLite file; the caller closes it, and `store` stays unset.
   */
  parts?: StoreParts;
}

/** A relay API on loopback with a real SQLite store in a temp folder, a counting outbox stub and captured logs. */
export class ApiServer {
  readonly metrics = new Metrics();
  readonly logLines: string[] = [];
  /** Every response body this server gave, for the token scan. */
  readonly bodies: string[] = [];
  kicks = 0;
  url = '';
  store!: Store;
  private server: Server | undefined;
  private readonly db = tempDb();

  /** `clock`: the one a store given to `start` as `parts` runs on. */
  constructor(readonly clock = new TestClock()) {}

  /** The SQLite file behind the store (for a second connection). */
  get dbPath(): string {
    return this.db.path;
  }

  /** The server under the app, as the relay makes it (its timeouts). */
  get httpServer(): Server {
    if (this.server === undefined) throw new Error('not started');
    return this.server;
  }

  /**
   * `wrap` can replace store methods (a failing summary, an unhealthy store); `store` is passed to
   * openStore (a read-only open, a hand on the connection); `timeouts` shortens the server's own
   * (the relay's listen, as in production).
   */
  async start(options: ApiServerOptions = {}): Promise<this> {
    const parts = options.parts ?? (this.store = openStore(this.db.path, { vault: TEST_VAULT, ...options.store, clock: this.clock.now }));
    const logger = createLogger({
      level: 'debug',
      destination: { write: (line: string) => void this.logLines.push(line) },
    });
    // The test's key, as RELAY_API_KEYS would make it (a read-only store keeps the keys it has).
    if (!options.store?.readonly) await parts.keys.syncEnvKeys([API_KEY]);
    const app = createApp({
      store: options.wrap && options.parts === undefined ? options.wrap(this.store) : parts,
      corsOrigins: ['chrome-extension://*', 'moz-extension://*'],
      outbox: { kick: () => void this.kicks++ },
      metrics: this.metrics,
      logger,
      // The relay's own clock is the store's: windows and revocations are seen in the same time.
      now: this.clock.now,
      ...options.deps,
    });
    this.server = await listen(app.fetch, { hostname: '127.0.0.1', port: 0, timeouts: options.timeouts });
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** A new key with this role, made in the store (`name` defaults to the role's). */
  keyFor(role: Role, name = `${role} key`): TestKey {
    const { key, secret } = this.store.keys.create({ name, role }, SETUP);
    return { key, secret, auth: bearer(secret) };
  }

  /** Closes the server and the store and starts again on the same database file, as a restart would. */
  async restart(options: ApiServerOptions = {}): Promise<this> {
    await this.close();
    return this.start(options);
  }

  async stop(): Promise<void> {
    await this.close();
    this.db.cleanup();
  }

  private async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
    try {
      this.store?.close();
    } catch {
      // already closed by a test
    }
  }

  /** fetch() against the server; the body is read, recorded and parsed. */
  async fetch(path: string, init: RequestInit = {}): Promise<Answer> {
    const response = await fetch(`${this.url}${path}`, init);
    return this.record(response.status, response.headers, await response.text());
  }

  /** A JSON POST with the API key. */
  post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    return this.fetch(path, {
      method: 'POST',
      headers: { ...AUTH, 'Content-Type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  get(path: string, headers: Record<string, string> = AUTH): Promise<Answer> {
    return this.fetch(path, { headers });
  }

  /**
   * A raw node:http request: the body goes out in `chunks` (chunked transfer encoding unless a
   * Content-Length header is given). The server may answer before it has read everything.
   */
  raw(
    method: string,
    path: string,
    headers: Record<string, string>,
    chunks: readonly Buffer[] = [],
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${this.url}${path}`, { method, headers });
      req.on('response', (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('end', () => {
          const h = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined) h.set(name, Array.isArray(value) ? value.join(', ') : value);
          }
          resolve(this.record(res.statusCode ?? 0, h, Buffer.concat(parts).toString('utf8')));
        });
        res.on('error', reject);
      });
      // Writing after the server has answered may fail (EPIPE, reset); the answer is what counts.
      req.on('error', (err) => setTimeout(() => reject(err), 50));
      void (async () => {
        for (const chunk of chunks) {
          if (req.destroyed) return;
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          await new Promise((r) => setImmediate(r));
        }
        req.end();
      })();
    });
  }

  private record(status: number, headers: Headers, text: string): Answer {
    this.bodies.push(text);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status, headers, text, json };
  }
}

/** `{error:{code,message,details?}}` of an error answer. */
export function errorOf(answer: Answer): { code: string; message: string; details?: unknown } {
  const body = answer.json as { error?: { code: string; message: string; details?: unknown } } | undefined;
  if (body?.error === undefined) throw new Error(`not an error body (${answer.status}): ${answer.text.slice(0, 200)}`);
  return body.error;
}

/** Fails when any recorded body carries a request token (or the API key). */
export function expectNoSecrets(server: ApiServer): void {
  for (const body of server.bodies) {
    if (body.includes(TOKEN_MARK)) throw new Error(`a response carried a request token: ${body.slice(0, 300)}`);
    if (body.includes(API_KEY)) throw new Error(`a response carried the API key: ${body.slice(0, 300)}`);
  }
  for (const line of server.logLines) {
    if (line.includes(TOKEN_MARK) || line.includes(API_KEY)) throw new Error(`the log carried a secret: ${line}`);
  }
}
