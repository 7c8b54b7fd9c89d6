/**
 * The body of one server-sent event stream: a ReadableStream of bytes that @hono/node-server
 * pipes to the socket. It replaces Hono's streamSSE, which per client holds a TransformStream, a
 * second ReadableStream around its readable side, a writer, a reader and a TextEncoder, and which
 * the events route then had to give its headers after the fact (a copy of the whole response): a
 * thousand clients were several megabytes of those. Here: one stream without a queue
 * (highWaterMark 0), fed chunks that are already bytes, so that one encoded event goes to every
 * client as the same Buffer.
 *
 * Backpressure: node-server reads the next chunk only once the socket took the last one (at once,
 * or after 'drain'), and a read is what lets `write` resolve. A client that stops reading
 * leaves its write pending: the events route times that out.
 */
export class SseBody {
  readonly readable: ReadableStream<Uint8Array>;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** Resolves the pending write once its chunk has been taken. */
  #taken: (() => void) | undefined;
  #ended = false;

  /** `onCancel`: the client went away (node-server cancels the stream when the socket closes). */
  constructor(onCancel: () => void) {
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        // Asked for a chunk: the one before it has been taken.
        pull: () => this.#release(),
        cancel: () => {
          this.#ended = true;
          this.#release();
          onCancel();
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** Resolves once `chunk` has been taken, or at once when the stream has ended. One write at a time. */
  write(chunk: Uint8Array): Promise<void> {
    const controller = this.#controller;
    if (this.#ended || controller === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      this.#taken = resolve;
      controller.enqueue(chunk);
    });
  }

  /** Ends the body normally: node-server ends the response once it has written what was taken. */
  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#release();
    try {
      this.#controller?.close();
    } catch {
      // cancelled in the meantime
    }
  }

  #release(): void {
    const taken = this.#taken;
    this.#taken = undefined;
    taken?.();
  }
}
