import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { vi } from 'vitest';
import type { ApiVersion } from '../../../../shared/status.js';
import { DeliveriesPage, Delivery, WEBHOOK_EVENT_TYPES, WebhookCreated, type DeliveryLogEntry } from '../../../../shared/models.js';
import { createWebhookWorker, type WebhookWorker, type WebhookWorkerOptions } from '../../../../relay/push/webhooks/delivery.js';
import type { Resolver } from '../../../../relay/outbound/ssrf.js';
import type { Role } from '../../../../shared/roles.js';
import { ApiServer, AUTH, bearer, SETUP, type TestKey } from '../../api/helpers.js';
import { captureLog } from '../../helpers.js';
import { DATABASES, DatabaseHarness, type TestDatabase, type TestStore } from '../../store/databases.js';

/** One request a receiver got. */
export interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

/**
 * A webhook receiver on 127.0.0.1 built with node:http. `replies` are used one per request, in
 * order; once they run out, `fallback` answers (default 204).
 */
export class Receiver {
  readonly received: Received[] = [];
  replies: Reply[] = [];
  fallback: Reply = { status: 204 };
  url = '';
  private server: Server | undefined;
  private waiters: Array<() => void> = [];

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', resolve);
    });
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** Answers the next requests with these, in order. */
  reply(...replies: Reply[]): this {
    this.replies.push(...replies);
    return this;
  }

  /** Resolves once `count` requests have arrived in all. */
  async waitFor(count: number, timeoutMs = 5000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`the receiver got ${this.received.length} of ${count} requests`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 25);
      });
    }
    return this.received;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string') headers[name] = value;
      }
      this.received.push({ method: req.method ?? '', path: req.url ?? '', headers, body: Buffer.concat(chunks).toString('utf8') });
      for (const wake of this.waiters.splice(0)) wake();
      const reply = this.replies.shift() ?? this.fallback;
      if (reply === 'hang') return;
      res.writeHead(reply.status, reply.headers);
      res.end(reply.body ?? '');
    });
  }
}

/** Verifies a received message with the independent `standardwebhooks` package, as if at `atMs`. */
export function verifyAt(secret: string, message: Received, atMs: number): unknown {
  const spy = vi.spyOn(Date, 'now').mockReturnValue(atMs);
  try {
    return new StandardWebhook(secret).verify(message.body, message.headers);
  } finally {
    spy.mockRestore();
  }
}

export const ALL_EVENTS = [...WEBHOOK_EVENT_TYPES];

/**
 * The relay's API (real HTTP, a fresh database of either kind, a hand-moved clock) with the webhook
 * worker on the same store and clock, and a receiver on loopback.
 */
export class WebhookHarness {
  readonly database: DatabaseHarness;
  readonly api: ApiServer;
  readonly receiver = new Receiver();
  readonly log = captureLog();
  worker!: WebhookWorker;
  store!: TestStore;
  private readonly workers: WebhookWorker[] = [];

  constructor(database: TestDatabase = DATABASES[0]!) {
    this.database = new DatabaseHarness(database);
    this.api = new ApiServer(this.database.clock);
  }

  get clock() {
    return this.api.clock;
  }

  async start(
    options: {
      allowPrivate?: boolean;
      resolve?: Resolver;
      worker?: Partial<WebhookWorkerOptions>;
      receiver?: boolean;
      /** The Concur API version the relay's store works for (3.0 when not given). */
      apiVersion?: ApiVersion;
    } = {},
  ): Promise<this> {
    const allowPrivate = options.allowPrivate ?? true;
    if (options.receiver !== false) await this.receiver.start();
    this.store = await this.database.store(options.apiVersion === undefined ? {} : { apiVersion: options.apiVersion });
    await this.api.start({
      parts: this.store,
      deps: { webhooks: { allowPrivate, kick: () => this.worker?.kick(), resolve: options.resolve } },
    });
    this.worker = this.newWorker({ allowPrivate, ...options.worker });
    return this;
  }

  /** A new key with this role, made in the store (as the `keys` command line would). */
  async keyFor(role: Role, name = `${role} key`): Promise<TestKey> {
    const { key, secret } = await this.store.keys.create({ name, role }, SETUP);
    return { key, secret, auth: bearer(secret) };
  }

  newWorker(options: Partial<WebhookWorkerOptions> = {}): WebhookWorker {
    const worker = createWebhookWorker({
      store: this.store,
      logger: this.log.logger,
      metrics: this.api.metrics,
      now: this.clock.now,
      random: () => 0.5,
      allowPrivate: true,
      timeoutMs: 2000,
      ...options,
    });
    this.workers.push(worker);
    return worker;
  }

  /** Every secret `subscribe` was given: stop() fails if one of them reached a log. */
  readonly secrets: string[] = [];

  async stop(): Promise<void> {
    for (const worker of this.workers.splice(0)) await worker.stop();
    const logs = [this.log.text(), ...this.api.logLines].join('\n');
    await this.receiver.close();
    await this.api.stop();
    await this.database.cleanup();
    if (this.secrets.some((secret) => logs.includes(secret.slice('whsec_'.length)))) {
      throw new Error('a webhook secret reached the log');
    }
  }

  /** POST /api/v1/webhooks; fails unless 201. */
  async subscribe(body: { url?: string; events?: string[]; description?: string } = {}): Promise<WebhookCreated> {
    const answer = await this.api.post('/api/v1/webhooks', {
      url: body.url ?? `${this.receiver.url}/hooks/concur?token=receiver-side-token`,
      events: body.events ?? ALL_EVENTS,
      ...(body.description === undefined ? {} : { description: body.description }),
    });
    if (answer.status !== 201) throw new Error(`subscribe answered ${answer.status}: ${answer.text}`);
    const created = WebhookCreated.parse(answer.json);
    this.secrets.push(created.secret);
    return created;
  }

  async sendTest(webhookId: string): Promise<Delivery> {
    const answer = await this.api.post(`/api/v1/webhooks/${webhookId}/test`, undefined);
    if (answer.status !== 202) throw new Error(`test answered ${answer.status}: ${answer.text}`);
    return Delivery.parse(answer.json);
  }

  async deliveries(webhookId: string, query = ''): Promise<DeliveriesPage> {
    const answer = await this.api.get(`/api/v1/webhooks/${webhookId}/deliveries${query}`);
    if (answer.status !== 200) throw new Error(`deliveries answered ${answer.status}: ${answer.text}`);
    return DeliveriesPage.parse(answer.json);
  }

  async delivery(webhookId: string, deliveryId: string): Promise<DeliveryLogEntry> {
    const page = await this.deliveries(webhookId, '?limit=100');
    const found = page.items.find((item) => item.id === deliveryId);
    if (found === undefined) throw new Error(`no delivery ${deliveryId}`);
    return found;
  }

  /** PATCH /api/v1/webhooks/:id; answers the status. */
  async fetchPatch(webhookId: string, body: unknown): Promise<number> {
    const answer = await this.api.fetch(`/api/v1/webhooks/${webhookId}`, {
      method: 'PATCH',
      headers: { ...AUTH, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return answer.status;
  }

  /** Moves the clock to when `delivery` is next due, and lets the worker send what is due. */
  async runNext(webhookId: string, deliveryId: string): Promise<DeliveryLogEntry> {
    const before = await this.delivery(webhookId, deliveryId);
    if (before.nextAttemptAt === null) throw new Error('the delivery is not scheduled');
    this.clock.ms = Math.max(this.clock.ms, Date.parse(before.nextAttemptAt));
    await this.worker.drain();
    return this.delivery(webhookId, deliveryId);
  }

  /** Lets `delivery` run its schedule (runNext after runNext) until it is no longer pending. */
  async runToEnd(webhookId: string, deliveryId: string): Promise<DeliveryLogEntry> {
    let entry = await this.delivery(webhookId, deliveryId);
    while (entry.state === 'pending') entry = await this.runNext(webhookId, deliveryId);
    return entry;
  }
}
