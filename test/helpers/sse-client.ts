/**
 * A small server-sent-events client for tests: fetch + res.body.getReader() and a parser that
 * follows the WHATWG event-stream rules (CRLF/CR/LF line ends, `:` comments, one optional space
 * after the colon, dispatch on a blank line, no dispatch for a block without data).
 */

export interface SseMessage {
  /** The `id:` of this block, or undefined when it had none. */
  id: string | undefined;
  /** The `event:` name; 'message' when none was given. */
  event: string;
  data: string;
}

export interface SseConnection {
  readonly status: number;
  readonly headers: Headers;
  /** Dispatched messages, in order. */
  readonly messages: SseMessage[];
  /** Comment lines without the leading colon (e.g. ' ping'). */
  readonly comments: string[];
  /** Every `retry:` value seen. */
  readonly retries: number[];
  /** Everything received, as text: for scanning for things that must never appear. */
  raw(): string;
  /** True once the server ended the stream (cleanly or not). */
  readonly ended: boolean;
  /** Resolves with check()'s first non-undefined result, re-checked on every chunk; rejects after timeoutMs. */
  waitFor<T>(check: () => T | undefined, timeoutMs?: number, what?: string): Promise<T>;
  /** The first `count` messages, once they have arrived. */
  waitForMessages(count: number, timeoutMs?: number): Promise<SseMessage[]>;
  /** Resolves when the stream has ended. */
  waitForEnd(timeoutMs?: number): Promise<void>;
  close(): void;
}

export async function connectSse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  const retries: number[] = [];
  let raw = '';
  let ended = false;
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const waiter of [...waiters]) waiter();
  };

  // Parser state.
  let pending = '';
  let data: string[] = [];
  let eventName = '';
  let blockId: string | undefined;
  let hasField = false;

  const dispatch = (): void => {
    if (data.length > 0) messages.push({ id: blockId, event: eventName === '' ? 'message' : eventName, data: data.join('\n') });
    data = [];
    eventName = '';
    blockId = undefined;
    hasField = false;
  };
  const line = (text: string): void => {
    if (text === '') {
      if (hasField) dispatch();
      return;
    }
    if (text.startsWith(':')) {
      comments.push(text.slice(1));
      return;
    }
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    hasField = true;
    if (field === 'data') data.push(value);
    else if (field === 'event') eventName = value;
    else if (field === 'id') blockId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) retries.push(Number(value));
  };
  const feed = (text: string): void => {
    raw += text;
    pending += text;
    // A trailing CR may be the first half of CRLF: keep it until more arrives.
    const parts = pending.split(/\r\n|\r(?!$)|\n/);
    pending = parts.pop() ?? '';
    for (const part of parts) line(part);
  };

  if (response.body !== null && response.headers.get('content-type')?.startsWith('text/event-stream')) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    void (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          feed(decoder.decode(value, { stream: true }));
          notify();
        }
      } catch {
        // aborted by close() or cut by the server
      } finally {
        ended = true;
        notify();
      }
    })();
  } else {
    raw = await response.text();
    ended = true;
  }

  const connection: SseConnection = {
    status: response.status,
    headers: response.headers,
    messages,
    comments,
    retries,
    raw: () => raw,
    get ended() {
      return ended;
    },
    waitFor<T>(check: () => T | undefined, timeoutMs = 3000, what = 'a condition'): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const attempt = (): boolean => {
          const result = check();
          if (result === undefined) return false;
          cleanup();
          resolve(result);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(messages.map((m) => [m.id, m.event]))}`));
        }, timeoutMs);
        const waiter = (): void => {
          if (!attempt() && ended) {
            // One more chance was given above; nothing more will arrive.
            cleanup();
            reject(new Error(`the stream ended while waiting for ${what}`));
          }
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(waiter);
        };
        if (attempt()) return;
        waiters.add(waiter);
      });
    },
    waitForMessages(count, timeoutMs) {
      return connection.waitFor(
        () => (messages.length >= count ? messages.slice(0, count) : undefined),
        timeoutMs,
        `${count} messages`,
      );
    },
    waitForEnd(timeoutMs) {
      return new Promise<void>((resolve, reject) => {
        if (ended) return resolve();
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error('timed out waiting for the stream to end'));
        }, timeoutMs ?? 3000);
        const waiter = (): void => {
          if (!ended) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve();
        };
        waiters.add(waiter);
      });
    },
    close() {
      controller.abort();
    },
  };
  return connection;
}

/** Polls `check` until it is true (or throws after timeoutMs). For server-side state such as gauges. */
export async function eventually(check: () => boolean, timeoutMs = 3000, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
