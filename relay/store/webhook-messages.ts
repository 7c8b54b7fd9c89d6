import { WEBHOOK_EVENT_TYPES, type Webhook, type WebhookEventType, type WebhookMessage } from '../../shared/models.js';
import type { StoredEvent } from './events.js';

/**
 * Which stored events become which webhook messages, and the bodies sent:
 * - request.created → request.created, request.updated → request.updated (data: ConnectionRequest)
 * - reply.updated in state sent → reply.sent, in state failed → reply.failed (data: the
 *   ConnectionRequest, whose `reply` is the reply that was sent or failed); queued → nothing
 * - concur.state_changed → concur.state_changed (data: the Summary, counts and Concur's state)
 * - connection.created → connection.established; connection.updated to refresh_failed →
 *   connection.broken, to revoked → connection.revoked (data: the Connection, never a token)
 * - summary → nothing
 * Data comes from the same row mapping as the API (mapping.ts), so a request token cannot appear.
 */

export type MessageType = WebhookMessage['type'];

export const MESSAGE_TYPES: readonly MessageType[] = [...WEBHOOK_EVENT_TYPES, 'webhook.test'];

/** The webhook message type a stored event becomes, or undefined for none. */
export function webhookTypeOf(event: StoredEvent): WebhookEventType | undefined {
  switch (event.type) {
    case 'request.created':
    case 'request.updated':
    case 'concur.state_changed':
      return event.type;
    case 'reply.updated':
      if (event.data.reply.state === 'sent') return 'reply.sent';
      if (event.data.reply.state === 'failed') return 'reply.failed';
      return undefined;
    case 'summary':
      return undefined;
    case 'connection.created':
      return 'connection.established';
    case 'connection.updated':
      if (event.data.state === 'refresh_failed') return 'connection.broken';
      if (event.data.state === 'revoked') return 'connection.revoked';
      return undefined;
  }
}

/**
 * `subscribers` asked once a message type: the fan-out of the events one append stores (a page of
 * requests) reads who subscribes to each type once, not once an event.
 */
export function subscribersOnce<T>(subscribers: (type: WebhookEventType) => T): (type: WebhookEventType) => T {
  const known = new Map<WebhookEventType, T>();
  return (type) => {
    if (!known.has(type)) known.set(type, subscribers(type));
    return known.get(type) as T;
  };
}

/** What the reading parts of the store give a message: the request of a reply, the summary. */
export interface MessageViews {
  request(id: string): unknown;
  summary(): unknown;
}

/** The data of the message `event` becomes; undefined for none. */
export function messageDataOf(event: StoredEvent, views: MessageViews): unknown {
  switch (event.type) {
    case 'request.created':
    case 'request.updated':
      return event.data;
    case 'reply.updated':
      return views.request(event.data.requestId);
    case 'concur.state_changed':
      return views.summary();
    case 'connection.created':
    case 'connection.updated':
      return event.data;
    case 'summary':
      return undefined;
  }
}

/** The exact body that is sent and signed. */
export function messageBody(type: MessageType, timestamp: string, data: unknown): string {
  const message: WebhookMessage = { type, timestamp, data };
  return JSON.stringify(message);
}

/** The body of a `webhook.test` message to `webhook`. */
export function testMessageBody(webhook: Webhook, timestamp: string): string {
  return messageBody('webhook.test', timestamp, {
    message: 'A test event from TripLink Relay: this endpoint is subscribed and the signature can be verified.',
    webhook,
  });
}
