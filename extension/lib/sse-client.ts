import { ErrorBody, SSE_EVENT_TYPES, type SseEventType } from '../../shared/models.js';
import { RelayProblem } from './problems.js';
import type { Settings } from './settings.js';

/**
 * Live events from the relay: `GET {relayUrl}/api/v1/events`, read with fetch and a streaming
 * server-sent-events parser, because EventSource cannot send the `Authorization` header.
 *
 * The parser follows the WHATWG event-stream rules (CRLF, LF or CR line ends; `:` comments; one
 * optional space after the colon; `data:` lines joined with "\n"; dispatch on a blank line; no
 * dispatch for a block without data; the last event id persists until a new `id:`; `retry:` only
 * when all digits; an `id:` containing NUL is ignored).
 */

export interface SseMessage {
  /** The last event id at dispatch time ('' if the stream never sent one). */
  id: string;
  /** The `event:` name; 'message' when none was given. */
  event: string;
  data: string;
}

interface SseParser {
  /** Feed decoded text, any split. */
  push(text: string): void;
  readonly lastEventId: string;
}

export function createSseParser(
  handlers: { onMessage(message: SseMessage): void; onRetry?(ms: number): void; onComment?(text: string): void },
  initialLastEventId = '',
): SseParser {
  let pending = '';
  let data = '';
  let hasData = false;
  let eventType = '';
  let idBuffer = initialLastEventId;
  let lastEventId = initialLastEventId;

  const dispatch = (): void => {
    lastEventId = idBuffer;
    if (!hasData) {
      eventType = '';
      return;
    }
    const message: SseMessage = { id: lastEventId, event: eventType === '' ? 'message' : eventType, data };
    data = '';
    hasData = false;
    eventType = '';
    handlers.onMessage(message);
  };

  const line = (text: string): void => {
    if (text === '') return dispatch();
    if (text.startsWith(':')) {
      handlers.onComment?.(text.slice(1));
      return;
    }
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        eventType = value;
        break;
      case 'data':
        data = hasData ? `${data}\n${value}` : value;
        hasData = true;
        break;
      case 'id':
        if (!value.includes('\u0000')) idBuffer = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) handlers.onRetry?.(Number(value));
        break;
      default:
      // unknown fields are ignored
    }
  };

  return {
    push(text: string) {
      pending += text;
      // A trailing CR may be the first half of a CRLF split across chunks: keep it for now.
      const parts = pending.split(/\r\n|\r(?!$)|\n/);
      pending = parts.pop() ?? '';
      for (const part of parts) line(part);
    },
    get lastEventId() {
      return lastEventId;
    },
  };
}

export interface LiveEvent {
  id: string;
  type: SseEventType;
  data: unknown;
}

/** Reconnect timing. The defaults suit production; tests may shorten them. */
export interface FollowTiming {
  /** The reconnect delay until the relay sends `retry:`. */
  retryMs: number;
  /** The cap of the backoff after repeated failures. */
  maxDelayMs: number;
  /** After a 401 (the key was refused): retry this slowly, until the settings change. */
  keyRefusedDelayMs: number;
  /** No byte (event or heartbeat) for this long: the connection is dead; reconnect. */
  idleTimeoutMs: number;
}

const FOLLOW_DEFAULTS: FollowTiming = {
  retryMs: 3000,
  maxDelayMs: 60_000,
  keyRefusedDelayMs: 5 * 60_000,
  // The relay sends a heartbeat comment every 20 s.
  idleTimeoutMs: 75_000,
};

export interface FollowEventsOptions {
  lastEventId?: string;
  signal: AbortSignal;
  onEvent(event: LiveEvent): void;
  onOpen?(): void;
  onProblem?(problem: RelayProblem): void;
  fetch?: typeof fetch;
  timing?: Partial<FollowTiming>;
}

const KNOWN_TYPES: ReadonlySet<string> = new Set<string>(SSE_EVENT_TYPES);

/** Resolves after `ms`, or at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

async function problemFromResponse(res: Response): Promise<RelayProblem> {
  let detail = `the relay answered ${res.status} to the live events request`;
  try {
    const body = ErrorBody.safeParse(await res.json());
    if (body.success) detail = body.data.error.message;
  } catch {
    // not JSON: keep the status line
  }
  return new RelayProblem('relay_error', detail);
}

/**
 * Follows the relay's live events until `signal` aborts; never rejects. Reconnects with
 * `Last-Event-ID` so nothing is missed, after the relay's `retry:` delay when a stream ends, and
 * with a capped, jittered backoff while connecting fails. A refused key (401) is reported once per
 * attempt and retried only every `keyRefusedDelayMs`: the caller restarts this when the settings
 * change. Only the relay's event types are passed on, with `data` parsed as JSON.
 */
export async function followEvents(
  settings: Pick<Settings, 'relayUrl' | 'apiKey'>,
  options: FollowEventsOptions,
): Promise<void> {
  const { signal } = options;
  const timing: FollowTiming = { ...FOLLOW_DEFAULTS, ...options.timing };
  const fetchImpl = options.fetch ?? fetch;
  let lastEventId = options.lastEventId ?? '';
  let retryMs = timing.retryMs;
  let failures = 0;

  const report = (problem: RelayProblem): void => {
    try {
      options.onProblem?.(problem);
    } catch {
      // a listener's failure is not ours
    }
  };
  const backoff = (): number => {
    const base = Math.min(timing.maxDelayMs, retryMs * 2 ** Math.min(failures - 1, 16));
    return Math.min(timing.maxDelayMs, Math.round(base * (0.8 + 0.4 * Math.random())));
  };

  while (!signal.aborted) {
    if (typeof navigator !== 'undefined' && navigator.onLine === false) {
      failures += 1;
      report(new RelayProblem('offline'));
      await sleep(backoff(), signal);
      continue;
    }

    // One connection: its own controller, aborted by the caller's signal or the idle watchdog.
    const connection = new AbortController();
    const abortConnection = (): void => connection.abort();
    signal.addEventListener('abort', abortConnection);
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const touch = (): void => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(abortConnection, timing.idleTimeoutMs);
    };
    let delay: number | undefined;
    try {
      let res: Response;
      try {
        touch();
        res = await fetchImpl(`${settings.relayUrl}/api/v1/events`, {
          headers: {
            authorization: `Bearer ${settings.apiKey}`,
            accept: 'text/event-stream',
            ...(lastEventId !== '' ? { 'last-event-id': lastEventId } : {}),
          },
          signal: connection.signal,
          cache: 'no-store', // in Firefox a 2nd stream of this URL would wait on the 1st's cache entry, forever
        });
      } catch {
        if (signal.aborted) break;
        failures += 1;
        report(new RelayProblem('unreachable'));
        delay = backoff();
        continue;
      }

      if (res.status === 401) {
        void res.body?.cancel().catch(() => undefined);
        failures += 1;
        report(new RelayProblem('key_refused'));
        delay = timing.keyRefusedDelayMs;
        continue;
      }
      if (res.status === 400 && lastEventId !== '') {
        // The relay does not know our Last-Event-ID (another database): start afresh; its
        // first event is a summary, so nothing is lost for the caller.
        void res.body?.cancel().catch(() => undefined);
        lastEventId = '';
        failures += 1;
        delay = backoff();
        continue;
      }
      const type = res.headers.get('content-type') ?? '';
      if (!res.ok || !type.toLowerCase().startsWith('text/event-stream') || res.body === null) {
        failures += 1;
        report(
          res.ok
            ? new RelayProblem('relay_error', 'the relay’s live events did not come as an event stream')
            : await problemFromResponse(res),
        );
        delay = backoff();
        continue;
      }

      try {
        options.onOpen?.();
      } catch {
        // ignore
      }
      let received = false;
      const parser = createSseParser(
        {
          onRetry: (ms) => {
            retryMs = Math.min(timing.maxDelayMs, Math.max(0, ms));
          },
          onMessage: (message) => {
            lastEventId = message.id;
            if (!KNOWN_TYPES.has(message.event)) return;
            let data: unknown;
            try {
              data = JSON.parse(message.data);
            } catch {
              return;
            }
            try {
              options.onEvent({ id: message.id, type: message.event as SseEventType, data });
            } catch {
              // a listener's failure must not end the stream
            }
          },
        },
        lastEventId,
      );
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          touch();
          if (!received) {
            received = true;
            failures = 0;
          }
          parser.push(decoder.decode(value, { stream: true }));
        }
      } catch {
        // cut by the network, the idle watchdog or the caller
      } finally {
        reader.releaseLock();
      }
      // Ids of events without a known type still count: the relay resumes after them.
      lastEventId = parser.lastEventId;
      if (signal.aborted) break;
      if (!received) failures += 1;
      delay = failures > 0 ? backoff() : retryMs;
    } finally {
      clearTimeout(idleTimer);
      signal.removeEventListener('abort', abortConnection);
      if (delay !== undefined && !signal.aborted) await sleep(delay, signal);
    }
  }
}
