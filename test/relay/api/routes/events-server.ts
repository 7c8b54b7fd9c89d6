import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { expect } from 'vitest';
import { SseEventData, SseEventType } from '../../../../shared/models.js';
import { eventsRoutes, type EventsRouteDeps, type EventsRouteOptions } from '../../../../relay/api/routes/events.js';
import { createLogger } from '../../../../relay/base/log.js';
import { Metrics } from '../../../../relay/base/metrics.js';
import type { Store } from '../../../../relay/store/index.js';
import { StoreHarness } from '../../store/helpers.js';
import type { SseMessage } from '../../../helpers/sse-client.js';

/** A relay-shaped server for the events route: a real temp SQLite store, real HTTP on loopback. */
export class EventsServer {
  readonly harness = new StoreHarness();
  readonly store: Store;
  readonly metrics = new Metrics();
  readonly shutdown = new AbortController();
  /** Listeners currently subscribed to the store through the route. */
  subscribers = 0;
  /** When set, the route's store reads throw this (an internal message that must not leak). */
  failReads: Error | undefined;
  /**
   * When set, the route's reads of events and the summary answer with a promise, settled after
   * whatever else is due (as a database behind a socket answers): a read is made when asked for,
   * and commits land before its answer arrives.
   */
  yieldingReads = false;
  /** What the route logged, parsed. */
  readonly logs: Array<Record<string, unknown>> = [];
  private server: ServerType | undefined;
  private port = 0;

  constructor(private readonly options: EventsRouteOptions = {}) {
    this.store = this.harness.store();
  }

  async start(): Promise<this> {
    const store = this.store;
    // Counts the route's subscriptions; every other method is the real store's.
    const later = <A extends unknown[], R>(read: (...args: A) => R) => (...args: A): R | Promise<R> => {
      if (!this.yieldingReads) return read(...args);
      let answer: { value: R } | { error: unknown };
      try {
        answer = { value: read(...args) };
      } catch (error) {
        answer = { error };
      }
      return new Promise<R>((resolve, reject) => setImmediate(() => ('value' in answer ? resolve(answer.value) : reject(answer.error))));
    };
    const fail = <A extends unknown[], R>(read: (...args: A) => R) =>
      later((...args: A): R => {
        if (this.failReads) throw this.failReads;
        return read(...args);
      });
    const counting: EventsRouteDeps['store'] = {
      keys: store.keys,
      state: { summary: later(store.state.summary) },
      events: {
        after: fail(store.events.after),
        latestId: fail(store.events.latestId),
        oldestId: later(store.events.oldestId),
        subscribe: (listener) => {
          this.subscribers += 1;
          const unsubscribe = store.events.subscribe(listener);
          let done = false;
          return () => {
            if (!done) {
              done = true;
              this.subscribers -= 1;
            }
            unsubscribe();
          };
        },
      },
    };
    const logger = createLogger({
      level: 'debug',
      destination: { write: (line: string) => void this.logs.push(JSON.parse(line) as Record<string, unknown>) },
    });
    const app = new Hono();
    app.route(
      '/api/v1',
      eventsRoutes({ store: counting, metrics: this.metrics, logger, signal: this.shutdown.signal, ...this.options }),
    );
    await new Promise<void>((resolve) => {
      this.server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => {
        this.port = info.port;
        resolve();
      });
    });
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/api/v1/events`;
  }
  get address(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.port };
  }

  /** Open TCP connections to the server. */
  connections(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server?.getConnections((error, count) => (error ? reject(error) : resolve(count)));
    });
  }

  async stop(): Promise<void> {
    this.shutdown.abort();
    const server = this.server;
    if (server !== undefined) {
      if ('closeAllConnections' in server) server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    this.harness.cleanup();
  }
}

/** Every message is a contract event with an increasing numeric id and data valid for its schema. */
export function expectContract(messages: readonly SseMessage[]): void {
  let previous = -1;
  for (const message of messages) {
    const type = SseEventType.parse(message.event);
    const id = Number(message.id);
    expect(message.id).toMatch(/^\d+$/);
    expect(id).toBeGreaterThan(previous);
    previous = id;
    const parsed = SseEventData[type].safeParse(JSON.parse(message.data));
    expect(parsed.success, `${type} ${message.data}`).toBe(true);
  }
}
