import { ConnectionRequest, ErrorBody, ReplyResponse, RequestsPage, Summary, type Reply, type RequestsQuery } from '../../shared/models.js';
import { ConnectionsPage, type Connection } from '../../shared/connections.js';
import { Me } from '../../shared/people.js';
import type { Group, ReplyCode } from '../../shared/status.js';
import { RelayProblem } from './problems.js';
import type { Settings } from './settings.js';

/**
 * An answer and where it stands in the relay's live events: the relay's `Relay-Event-Id`, the
 * latest event id when it was read (the lowest of them for a list read in pages). null when the
 * relay did not say (an older relay).
 */
interface Snapshot<T> {
  value: T;
  eventId: number | null;
}

/** The relay's JSON API as the extension uses it. Every failure is a RelayProblem. */
export interface RelayClient {
  summary(): Promise<Summary>;
  /** summary, with its Relay-Event-Id. */
  summarySnapshot(): Promise<Snapshot<Summary>>;
  /** Every request of a group, following nextCursor (bounded). */
  allRequests(group: Group, max?: number): Promise<ConnectionRequest[]>;
  /** allRequests, with where the list stands: the lowest Relay-Event-Id of its pages. */
  groupSnapshot(group: Group, max?: number): Promise<Snapshot<ConnectionRequest[]>>;
  request(id: string): Promise<ConnectionRequest>;
  reply(id: string, status: ReplyCode, idempotencyKey?: string): Promise<Reply>;
  /** Who the key belongs to and its role; null from a relay older than `GET /api/v1/me` (404). */
  me(): Promise<Me | null>;
  /**
   * Every connection, newest first, following nextCursor (bounded), with where the list stands;
   * null from a relay older than `GET /api/v1/connections` (404).
   */
  connectionsSnapshot(max?: number): Promise<Snapshot<Connection[] | null>>;
  /**
   * The connections made at or after `since` (ISO time; null: all), newest first, reading
   * further pages only while they reach back that far, up to about `max`; null from a relay older
   * than `GET /api/v1/connections` (404).
   */
  connectionsSince(since: string | null, max?: number): Promise<Connection[] | null>;
}

type Fetch = typeof fetch;

const EVENT_ID_HEADER = 'relay-event-id';

/** A relay event id (a Relay-Event-Id header, an SSE `id:`), or null when the text is not one. */
export function parseEventId(text: string): number | null {
  return /^\d{1,15}$/.test(text) ? Number(text) : null;
}

const eventIdOf = (res: Response): number | null => parseEventId(res.headers.get(EVENT_ID_HEADER) ?? '');

/** The lower of two event ids; unknown (null) wins: the whole is only as known as its parts. */
export function lowerEventId(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.min(a, b);
}

export function createRelayClient(settings: Pick<Settings, 'relayUrl' | 'apiKey'>, fetchImpl: Fetch = fetch): RelayClient {
  async function call<T>(path: string, parse: (json: unknown) => T, init: RequestInit = {}): Promise<T> {
    return (await snapshotCall(path, parse, init)).value;
  }

  /**
   * `missing`: the answer when the relay has no such route (404), read before the body, which an
   * older relay or a proxy in front of it may not even send as JSON.
   */
  async function snapshotCall<T>(
    path: string,
    parse: (json: unknown) => T,
    init: RequestInit = {},
    missing?: () => T,
  ): Promise<Snapshot<T>> {
    if (typeof navigator !== 'undefined' && navigator.onLine === false) throw new RelayProblem('offline');
    let res: Response;
    try {
      res = await fetchImpl(`${settings.relayUrl}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${settings.apiKey}`, accept: 'application/json', ...init.headers },
        signal: init.signal ?? AbortSignal.timeout(15_000),
      });
    } catch {
      throw new RelayProblem('unreachable');
    }
    if (res.status === 401) throw new RelayProblem('key_refused');
    if (res.status === 404 && missing !== undefined) {
      void res.body?.cancel().catch(() => undefined);
      return { value: missing(), eventId: null };
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch {
      throw new RelayProblem('relay_error', `the relay answered ${res.status} with something that is not JSON`);
    }
    if (!res.ok) {
      const body = ErrorBody.safeParse(json);
      // The key works, but its role does not allow this (a viewer's reply): the relay's message
      // names the key and what it may not do. Any other 403 (a proxy's) stays a relay error.
      if (res.status === 403 && body.success && body.data.error.code === 'forbidden') {
        throw new RelayProblem('forbidden', body.data.error.message);
      }
      // A CRSUC the relay cannot carry out (no working partner credentials): its reason, as its own problem.
      if (res.status === 422 && body.success && body.data.error.code === 'exchange_unavailable') {
        throw new RelayProblem('exchange_unavailable', body.data.error.message);
      }
      throw new RelayProblem('relay_error', body.success ? body.data.error.message : `the relay answered ${res.status}`);
    }
    try {
      return { value: parse(json), eventId: eventIdOf(res) };
    } catch {
      throw new RelayProblem('relay_error', 'the relay answered in a shape this extension does not know; update one of them');
    }
  }

  const page = (query: Partial<RequestsQuery>) => {
    const params = new URLSearchParams();
    if (query.group) params.set('group', query.group);
    if (query.limit) params.set('limit', String(query.limit));
    if (query.cursor) params.set('cursor', query.cursor);
    const qs = params.toString();
    return snapshotCall(`/api/v1/requests${qs ? `?${qs}` : ''}`, (j) => RequestsPage.parse(j));
  };

  const client: RelayClient = {
    summary: () => call('/api/v1/summary', (j) => Summary.parse(j)),
    summarySnapshot: () => snapshotCall('/api/v1/summary', (j) => Summary.parse(j)),
    allRequests: async (group, max) => (await client.groupSnapshot(group, max)).value,
    async groupSnapshot(group, max = 5000) {
      const items: ConnectionRequest[] = [];
      let eventId: number | null = Number.MAX_SAFE_INTEGER;
      let cursor: string | undefined;
      do {
        const next = await page({ group, limit: 200, cursor });
        items.push(...next.value.items);
        eventId = lowerEventId(eventId, next.eventId);
        cursor = next.value.nextCursor ?? undefined;
      } while (cursor && items.length < max);
      return { value: items, eventId };
    },
    request: (id) => call(`/api/v1/requests/${encodeURIComponent(id)}`, (j) => ConnectionRequest.parse(j)),
    reply: (id, status, idempotencyKey) =>
      call(`/api/v1/requests/${encodeURIComponent(id)}/reply`, (j) => ReplyResponse.parse(j).reply, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
        body: JSON.stringify({ status }),
      }),
    me: async () => (await snapshotCall('/api/v1/me', (j): Me | null => Me.parse(j), {}, () => null)).value,
    async connectionsSnapshot(max = 5000) {
      const items: Connection[] = [];
      let eventId: number | null = Number.MAX_SAFE_INTEGER;
      let cursor: string | undefined;
      do {
        const params = new URLSearchParams({ limit: '200' });
        if (cursor) params.set('cursor', cursor);
        const next = await snapshotCall(`/api/v1/connections?${params.toString()}`, (j): ConnectionsPage | null => ConnectionsPage.parse(j), {}, () => null);
        if (next.value === null) return { value: null, eventId: null };
        items.push(...next.value.items);
        eventId = lowerEventId(eventId, next.eventId);
        cursor = next.value.nextCursor ?? undefined;
      } while (cursor && items.length < max);
      return { value: items, eventId };
    },
    async connectionsSince(since, max = 5000) {
      const items: Connection[] = [];
      const from = since === null ? null : Date.parse(since);
      let cursor: string | undefined;
      do {
        const params = new URLSearchParams({ limit: '200' });
        if (cursor) params.set('cursor', cursor);
        const path = `/api/v1/connections?${params.toString()}`;
        const next = (await snapshotCall(path, (j): ConnectionsPage | null => ConnectionsPage.parse(j), {}, () => null)).value;
        if (next === null) return null;
        const fresh = from === null ? next.items : next.items.filter((c) => Date.parse(c.connectedAt) >= from);
        items.push(...fresh);
        // Newest first: a page that reaches before `since` is the last one worth reading.
        cursor = fresh.length === next.items.length ? (next.nextCursor ?? undefined) : undefined;
      } while (cursor && items.length < max);
      return items;
    },
  };
  return client;
}
