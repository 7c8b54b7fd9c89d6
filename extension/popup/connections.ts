import { Connection } from '../../shared/connections.js';

/**
 * The relay's connections as the popup keeps them: by the request each was made for, which is
 * how a row finds its own (a request has at most one; connecting it again replaces its tokens,
 * not its id). They come from `GET /api/v1/connections` with each load and from the
 * `connection.created` / `connection.updated` live events; a relay without that route (404)
 * still sends the events, so what they bring is kept across its loads.
 */

export type ConnectionsByRequest = ReadonlyMap<string, Connection>;

export const NO_CONNECTIONS: ConnectionsByRequest = new Map();

/** A listed snapshot, newest first: the newest connection of each request is kept. */
export function connectionsFrom(list: readonly Connection[]): ConnectionsByRequest {
  const map = new Map<string, Connection>();
  for (const connection of list) if (!map.has(connection.requestId)) map.set(connection.requestId, connection);
  return map;
}

/**
 * A live event's connection replaces what was known of its request: events come in the relay's
 * order, and a Connection carries no time of its own to compare. Data that does not fit the
 * shared model is ignored (the same map comes back).
 */
export function withConnection(map: ConnectionsByRequest, data: unknown): ConnectionsByRequest {
  const parsed = Connection.safeParse(data);
  if (!parsed.success) return map;
  const next = new Map(map);
  next.set(parsed.data.requestId, parsed.data);
  return next;
}
