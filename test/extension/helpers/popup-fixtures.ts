import { act } from 'preact/test-utils';
import { vi } from 'vitest';
import type { Connection } from '../../../shared/connections.js';
import type { ConnectionRequest, Reply, Summary } from '../../../shared/models.js';
import type { Me } from '../../../shared/people.js';
import { groupOf, type Group, type ReplyCode } from '../../../shared/status.js';
import type { PopupDeps } from '../../../extension/popup/controller.js';
import type { FollowOptions, LiveEvent } from '../../../extension/popup/live.js';
import { RelayProblem, type Problem } from '../../../extension/lib/problems.js';
import type { RelayClient } from '../../../extension/lib/relay-client.js';
import type { Settings } from '../../../extension/lib/settings.js';

/** Shared fixtures of the popup tests: requests, a fake relay client, fake live events, mounting. */

export const NOW = Date.parse('2025-03-01T12:00:00.000Z');
export const SETTINGS: Settings = { relayUrl: 'http://127.0.0.1:8787', apiKey: 'key-1', notifications: true };

export const ago = (ms: number) => new Date(NOW - ms).toISOString();
export const inFuture = (ms: number) => new Date(NOW + ms).toISOString();
export const MIN = 60_000;

let serial = 0;
export function request(over: Partial<ConnectionRequest> = {}): ConnectionRequest {
  serial += 1;
  const status = over.status ?? 'Processing';
  return {
    id: `req-${serial}`,
    uri: null,
    firstName: 'Ada',
    middleName: null,
    lastName: 'Lovelace',
    loyaltyNumber: `LN${100000 + serial}`,
    discountCode: null,
    status,
    group: groupOf(status),
    lastModified: ago(serial * MIN),
    firstSeenAt: ago(serial * MIN),
    requestTokenExpiresAt: groupOf(status) === 'pending' ? inFuture(10 * MIN) : null,
    retries: 0,
    retryLimit: 5,
    userErrors: 0,
    userErrorLimit: null,
    userId: null,
    emailAddresses: [],
    reply: null,
    connectionId: null,
    match: null,
    ...over,
  };
}

export function reply(status: ReplyCode, over: Partial<Reply> = {}): Reply {
  return { status, state: 'queued', attempts: 0, lastError: null, updatedAt: new Date(NOW).toISOString(), requestedBy: null, ...over };
}

/** A connection made for `r` (as the relay's store makes one), active unless `over` says otherwise. */
export function connection(r: Pick<ConnectionRequest, 'id' | 'firstName' | 'lastName' | 'loyaltyNumber'>, over: Partial<Connection> = {}): Connection {
  return {
    id: `con_${r.id}`,
    requestId: r.id,
    concurUserId: null,
    firstName: r.firstName,
    lastName: r.lastName,
    loyaltyNumber: r.loyaltyNumber,
    memberId: null,
    instanceUrl: 'https://us.api.concursolutions.com/',
    state: 'active',
    connectedAt: ago(2 * MIN),
    connectedBy: 'Alice',
    accessTokenExpiresAt: inFuture(60 * MIN),
    refreshTokenExpiresAt: null,
    lastRefreshedAt: null,
    lastError: null,
    ...over,
  };
}

/** A summary of `items`; `autoConnect` as a relay without a member directory unless given. */
export function summaryOf(
  items: readonly ConnectionRequest[],
  over: Partial<Summary['concur']> = {},
  autoConnect: Summary['autoConnect'] = { policy: 'off', directory: false },
): Summary {
  const counts = { pending: 0, failed: 0, connected: 0 };
  for (const r of items) counts[r.group] += 1;
  return {
    counts,
    concur: { state: 'ok', lastPollAt: ago(MIN), lastSuccessAt: ago(MIN), lastError: null, ...over },
    exchange: { state: 'ok', reason: null },
    autoConnect,
  };
}

export const newestFirst = (a: ConnectionRequest, b: ConnectionRequest) => Date.parse(b.lastModified) - Date.parse(a.lastModified);

export interface FakeClient extends RelayClient {
  items: ConnectionRequest[];
  summaryValue: Summary | null;
  /**
   * The Relay-Event-Id of every answer (null: the relay does not say). By default past every
   * event a test sends, so the popup never finds its lists older than its live stream; the
   * first-load tests set it.
   */
  eventId: number | null;
  replyCalls: { id: string; status: ReplyCode; key: string | undefined }[];
  fail: Error | null;
  replyImpl: (id: string, status: ReplyCode, key?: string) => Promise<Reply>;
  /** What `GET /api/v1/me` answers; null by default, as a relay older than that route. */
  meValue: Me | null;
  meCalls: number;
  /** What `GET /api/v1/connections` lists; null by default, as a relay older than that route (404). */
  connectionsValue: Connection[] | null;
  connectionsCalls: number;
}

export function fakeClient(items: ConnectionRequest[], summary: Summary | null = null): FakeClient {
  const client: FakeClient = {
    items,
    summaryValue: summary,
    eventId: Number.MAX_SAFE_INTEGER,
    replyCalls: [],
    fail: null,
    replyImpl: async (_id, status) => reply(status),
    meValue: null,
    meCalls: 0,
    connectionsValue: null,
    connectionsCalls: 0,
    async summary() {
      if (client.fail) throw client.fail;
      return client.summaryValue ?? summaryOf(client.items);
    },
    async allRequests(group: Group) {
      if (client.fail) throw client.fail;
      return client.items.filter((r) => r.group === group).sort(newestFirst);
    },
    // Through summary() and allRequests(), so that a test that replaces those sees these calls too.
    async summarySnapshot() {
      const eventId = client.eventId;
      return { value: await client.summary(), eventId };
    },
    async groupSnapshot(group: Group) {
      const eventId = client.eventId;
      return { value: await client.allRequests(group), eventId };
    },
    async request(id) {
      const found = client.items.find((r) => r.id === id);
      if (!found) throw new Error('not found');
      return found;
    },
    reply(id, status, key) {
      client.replyCalls.push({ id, status, key });
      return client.replyImpl(id, status, key);
    },
    async me() {
      client.meCalls += 1;
      if (client.fail) throw client.fail;
      return client.meValue;
    },
    async connectionsSnapshot() {
      client.connectionsCalls += 1;
      const eventId = client.eventId;
      if (client.fail) throw client.fail;
      const value = client.connectionsValue === null ? null : [...client.connectionsValue];
      return { value, eventId: value === null ? null : eventId };
    },
    // The popup never asks for these (the background's auto-connect notice does).
    async connectionsSince() {
      throw new Error('the popup does not read connections since a time');
    },
  };
  return client;
}

/** Live events under the test's control. */
export function fakeLive() {
  const live = {
    options: null as FollowOptions | null,
    calls: 0,
    follow: (_settings: Pick<Settings, 'relayUrl' | 'apiKey'>, options: FollowOptions) => {
      live.calls += 1;
      live.options = options;
      return new Promise<void>((resolve) => options.signal.addEventListener('abort', () => resolve(), { once: true }));
    },
    seq: 0,
    /** An event with the next id (or `id`, which the ids after it then follow). */
    async emit(type: LiveEvent['type'], data: unknown, id?: number) {
      live.seq = id ?? live.seq + 1;
      await act(() => live.options?.onEvent({ id: String(live.seq), type, data }));
    },
    async open() {
      await act(() => live.options?.onOpen?.());
    },
    /** The stream reports a problem (e.g. the key refused on reconnecting, as after a revocation). */
    async problem(problem: Problem) {
      await act(() => live.options?.onProblem?.(new RelayProblem(problem)));
    },
  };
  return live;
}

export function testDeps(client: RelayClient, over: Partial<PopupDeps> = {}): Partial<PopupDeps> {
  let key = 0;
  return {
    loadSettings: async () => SETTINGS,
    watchSettings: () => () => undefined,
    createClient: () => client,
    followEvents: fakeLive().follow,
    openOptions: vi.fn(),
    notifyBackground: vi.fn(),
    now: () => NOW,
    newKey: () => `key-${++key}`,
    refreshMs: 1_000_000,
    ...over,
  };
}

