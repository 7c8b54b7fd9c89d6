import { describe, expect, it } from 'vitest';
import { SseBody } from '../../../relay/push/sse-body.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');
const text = (chunk: Uint8Array | undefined) => Buffer.from(chunk ?? new Uint8Array()).toString('utf8');
/** Lets every pending promise callback run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('SseBody', () => {
  it('resolves a write only once the reader asks for the next chunk (backpressure)', async () => {
    const body = new SseBody(() => undefined);
    const reader = body.readable.getReader();
    let taken = false;
    void body.write(bytes('one')).then(() => {
      taken = true;
    });
    expect(text((await reader.read()).value)).toBe('one');
    await settle();
    // The reader has the chunk but has not asked for more: as a socket that is not draining.
    expect(taken).toBe(false);
    const next = reader.read();
    await settle();
    expect(taken).toBe(true);
    void body.write(bytes('two'));
    expect(text((await next).value)).toBe('two');
  });

  it('hands the same bytes to every reader, without copying', async () => {
    const shared = bytes('id: 1\nevent: summary\ndata: {}\n\n');
    const readers = [new SseBody(() => undefined), new SseBody(() => undefined)].map((body) => {
      void body.write(shared);
      return body.readable.getReader();
    });
    for (const reader of readers) expect((await reader.read()).value).toBe(shared);
  });

  it('tells when the reader cancels (the client went away), and lets a pending write go', async () => {
    let cancelled = 0;
    const body = new SseBody(() => {
      cancelled += 1;
    });
    const reader = body.readable.getReader();
    const pending = body.write(bytes('never read'));
    await reader.cancel();
    await pending;
    expect(cancelled).toBe(1);
    await body.write(bytes('after'));
  });

  it('ends the stream on close, after what was written', async () => {
    const body = new SseBody(() => undefined);
    const reader = body.readable.getReader();
    void body.write(bytes('last'));
    body.close();
    expect(text((await reader.read()).value)).toBe('last');
    expect((await reader.read()).done).toBe(true);
    body.close();
  });
});
