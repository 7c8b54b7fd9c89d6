import type { CallRecord } from '../../relay/sandbox/calls.js';

/**
 * Every call a sandbox received, for runs that make more than its call log keeps (its last
 * 5,000): read often enough, each record is kept by its sequence number here, with the answer it
 * got once it has one. A record that left the log before it was read is a gap, and then `all`
 * throws rather than count less than happened.
 */
export interface CallWatch {
  /** Every call so far, in order (read once more now). */
  all(): CallRecord[];
  stop(): void;
}

export function watchCalls(sandbox: { calls: { list(): CallRecord[] } }, everyMs = 500): CallWatch {
  const seen = new Map<number, CallRecord>();
  let lastSeq = 0;
  let gap: string | undefined;
  const read = (): void => {
    const calls = sandbox.calls.list();
    const first = calls[0]?.seq;
    if (first !== undefined && first > lastSeq + 1 && gap === undefined) gap = `calls ${lastSeq + 1}…${first - 1} left the sandbox's log unread`;
    for (const call of calls) seen.set(call.seq, call);
    lastSeq = Math.max(lastSeq, calls.at(-1)?.seq ?? 0);
  };
  const timer = setInterval(read, everyMs);
  return {
    all() {
      read();
      if (gap !== undefined) throw new Error(gap);
      // In order: each call entered the map when first read, and calls are read in order.
      return [...seen.values()];
    },
    stop: () => clearInterval(timer),
  };
}
