import { afterEach, beforeEach, expect } from 'vitest';
import { Connection, ConnectionToken } from '../../../shared/connections.js';
import { WebhookCreated } from '../../../shared/models.js';
import { ExchangeClient, type ExchangeForm } from '../../../relay/concur/exchange.js';
import type { UserTokens } from '../../../relay/concur/user-tokens.js';
import { createBroker, type ConnectionBroker } from '../../../relay/connections/broker.js';
import { createRefresher, type Refresher, type RefresherOptions } from '../../../relay/connections/refresher.js';
import { nextRefreshAt } from '../../../relay/connections/schedule.js';
import { createWebhookWorker, type WebhookWorker } from '../../../relay/push/webhooks/delivery.js';
import type { CallRecord } from '../../../relay/sandbox/calls.js';
import { ManualClock } from '../../../relay/sandbox/clock.js';
import { startSandbox, type RunningSandbox } from '../../../relay/sandbox/server.js';
import { ApiServer, record } from '../api/helpers.js';
import { captureLog, type CapturedLog } from '../helpers.js';
import { Receiver } from '../push/webhooks/helpers.js';

/**
 * The connections' tests: a sandbox over real HTTP whose clock is the relay's (moved with
 * `POST /_sandbox/clock`), the relay's API on a temp database with the broker, the refresh worker
 * and the webhook worker on the same store, and a webhook receiver on loopback. Connections are
 * made for real: a request added to the sandbox, its token exchanged by the relay's ExchangeClient
 * (legacy or password grant), the tokens stored as the outbox stores them.
 *
 * After each test, no token the sandbox gave a traveller (by exchange or refresh) may be in a log
 * line, an event, a webhook body, the audit trail or an answer, except the access tokens in the
 * broker's token answers.
 */

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export interface Made {
  connection: Connection;
  userId: string;
  /** The tokens the exchange gave. */
  tokens: UserTokens;
}

export interface World {
  sb: RunningSandbox;
  api: ApiServer;
  log: CapturedLog;
  receiver: Receiver;
  refresher: Refresher;
  broker: ConnectionBroker;
  webhooks: WebhookWorker;
  /** Every token a traveller was given in this test, and which of them are refresh tokens. */
  secrets: Set<string>;
  refreshTokens: Set<string>;
  now(): number;
  connect(form: ExchangeForm, traveller?: { firstName?: string; lastName?: string }): Promise<Made>;
  /** Moves the sandbox clock (the control API) and the relay's along with it. */
  advance(ms: number): Promise<void>;
  /** Refreshes of travellers' tokens the sandbox received (either form). */
  refreshCalls(): Promise<CallRecord[]>;
  grant(userId: string): Promise<Record<string, unknown>>;
  /** A webhook on the receiver for these events; its secret. */
  subscribe(events: string[]): Promise<string>;
  /** The bodies the receiver got, parsed. */
  received(): Array<{ type: string; data: Record<string, unknown> }>;
}

export interface WorldOptions {
  refresher?: Partial<RefresherOptions>;
  random?: number;
}

let requests = 0;

export function connectionsWorld(options: WorldOptions = {}): () => World {
  let world: World | undefined;
  const stops: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    const api = new ApiServer();
    const sb = await startSandbox({ seed: false, random: options.random ?? 11, clock: new ManualClock(api.clock.ms) });
    const log = captureLog();
    const receiver = await new Receiver().start();
    const secrets = new Set<string>();
    const refreshTokens = new Set<string>();
    const random = () => 0.5;
    let broker: ConnectionBroker | undefined;
    // The app is built before the store is open; the broker it is given waits for the one made below.
    const late: ConnectionBroker = {
      readToken: (id, actor) => broker!.readToken(id, actor),
      revoke: (id, actor) => broker!.revoke(id, actor),
    };
    let webhooks: WebhookWorker | undefined;
    await api.start({ deps: { connections: late, webhooks: { allowPrivate: true, kick: () => webhooks?.kick() } } });
    const client = (form: ExchangeForm) =>
      new ExchangeClient({
        form,
        baseUrl: sb.url,
        tokenUrl: `${sb.url}/oauth2/v0/token`,
        clientId: sb.clientId,
        clientSecret: sb.clientSecret,
        timeoutMs: 5000,
        now: api.clock.now,
        appAuthorization: async () => `OAuth ${sb.accessToken}`,
      });
    const keep = (tokens: UserTokens): UserTokens => {
      secrets.add(tokens.accessToken);
      secrets.add(tokens.refreshToken);
      refreshTokens.add(tokens.refreshToken);
      return tokens;
    };
    const concur = client('password');
    const refresher = createRefresher({
      exchange: { refresh: async (held) => keep(await concur.refresh(held)) },
      store: api.store,
      logger: log.logger,
      now: api.clock.now,
      random,
      ...options.refresher,
    });
    broker = createBroker({ store: api.store, refresher, concur, logger: log.logger, now: api.clock.now });
    webhooks = createWebhookWorker({ store: api.store, logger: log.logger, metrics: api.metrics, now: api.clock.now, random, allowPrivate: true, timeoutMs: 3000 });
    stops.push(() => refresher.stop(), () => webhooks!.stop(), () => receiver.close(), () => sb.close());

    const control = async <T,>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${sb.url}/_sandbox${path}`, {
        method,
        headers: { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`sandbox ${method} ${path} answered ${res.status}: ${await res.text()}`);
      return (await res.json()) as T;
    };

    world = {
      sb,
      api,
      log,
      receiver,
      refresher,
      broker,
      webhooks,
      secrets,
      refreshTokens,
      now: api.clock.now,
      async connect(form, traveller = {}) {
        const n = ++requests;
        const id = `REQ${n}`;
        const userId = `0f3c7a1e-0000-4000-8000-${String(n).padStart(12, '0')}`;
        const names = { firstName: traveller.firstName ?? 'Ada', lastName: traveller.lastName ?? 'Lovelace' };
        const added = await control<{ requests: Array<{ requestToken: string }> }>('POST', '/requests', { id, userId, ...names, loyaltyNumber: `LN${n}` });
        api.store.requests.upsertFromConcur([record(id, { userId, ...names, loyaltyNumber: `LN${n}` })], api.clock.iso());
        const tokens = keep(await client(form).exchange({ requestToken: added.requests[0]!.requestToken, userId }));
        const connection = api.store.connections.create({
          requestId: id,
          form,
          tokens,
          connectedBy: 'test',
          nextRefreshAt: nextRefreshAt(tokens, api.clock.now(), random),
        });
        return { connection, userId, tokens };
      },
      async advance(ms) {
        const { now } = await control<{ now: string }>('POST', '/clock', { advanceSeconds: ms / 1000 });
        api.clock.ms = Date.parse(now);
      },
      async refreshCalls() {
        const { calls } = await control<{ calls: CallRecord[] }>('GET', '/calls');
        return calls.filter((call) => call.grantType === 'refresh_token');
      },
      async grant(userId) {
        const { grants } = await control<{ grants: Array<Record<string, unknown>> }>('GET', `/users/${encodeURIComponent(userId)}`);
        expect(grants).toHaveLength(1);
        return grants[0]!;
      },
      async subscribe(events) {
        const answer = await api.post('/api/v1/webhooks', { url: `${receiver.url}/hooks`, events });
        if (answer.status !== 201) throw new Error(`subscribe answered ${answer.status}: ${answer.text}`);
        return WebhookCreated.parse(answer.json).secret;
      },
      received() {
        return receiver.received.map((message) => JSON.parse(message.body) as { type: string; data: Record<string, unknown> });
      },
    };
  });

  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    if (world === undefined) return;
    try {
      expectNoTravellerTokens(world);
    } finally {
      await world.api.stop();
      world = undefined;
    }
  });

  return () => {
    if (world === undefined) throw new Error('only inside a test');
    return world;
  };
}

/** The secrets check of every test (see above). */
function expectNoTravellerTokens({ api, log, receiver, secrets, refreshTokens }: World): void {
  const tokenAnswers = api.bodies.filter(isTokenAnswer);
  const places = {
    events: JSON.stringify(api.store.events.after(0, 10_000)),
    'audit trail': JSON.stringify(api.store.audit.list({ limit: 200 })),
    log: [log.text(), ...api.logLines].join('\n'),
    'webhook bodies': receiver.received.map((message) => message.body).join('\n'),
    'answers (but the broker\'s token answers)': api.bodies.filter((body) => !isTokenAnswer(body)).join('\n'),
  };
  expect(secrets.size).toBeGreaterThan(0);
  for (const secret of secrets) {
    for (const [where, text] of Object.entries(places)) expect(text.includes(secret), `a traveller's token is in the ${where}`).toBe(false);
  }
  // The broker's answers carry a traveller's access token, never a refresh token.
  for (const body of tokenAnswers) {
    const { accessToken } = ConnectionToken.parse(JSON.parse(body));
    expect(secrets.has(accessToken) && !refreshTokens.has(accessToken)).toBe(true);
    for (const refreshToken of refreshTokens) expect(body.includes(refreshToken)).toBe(false);
  }
}

function isTokenAnswer(body: string): boolean {
  try {
    return ConnectionToken.safeParse(JSON.parse(body)).success;
  } catch {
    return false;
  }
}
