import { describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../../../relay/sandbox/server.js';
import type { Store } from '../../../relay/store/index.js';
import { REQUEUE_AFTER_MS } from '../../../shared/status.js';
import { TESTER } from '../store/helpers.js';
import { addRequests, control, fault, listCalls } from '../helpers.js';
import { VERSIONS, worldOf } from './versions.js';

/**
 * API 3.2's queue from the relay's side, where only 3.2 has one: replies the outbox sends pop
 * requests while the poller pages through the queue (one client for both, as the relay has), and
 * Concur requeues a request an hour after a CRRET and a day after a CREU code, on the sandbox's
 * clock. The sandbox's own queue: test/relay/sandbox/queue32.test.ts; the client's paging alone:
 * test/relay/concur/queue-pages.test.ts.
 */

let sb: RunningSandbox;
let store: Store;
const sandboxClock = (ms: number) => control(sb, 'POST', '/clock', { advanceSeconds: ms / 1000 });
const queued = () => sb.state.all().filter((r) => !sb.state.isPopped(r) && (r.status === 'Pending' || r.status === 'Processing'));

describe('API 3.2 only: the queue from the relay’s side', () => {
  const { outbox, ingest } = worldOf(VERSIONS.find((v) => v.version === '3.2')!, { random: 32 }, (world) => ({ sb, store } = world));

  it('replies that pop requests while a sweep pages through the queue make it skip none', async () => {
    const answered = await addRequests(sb, { count: 12 });
    await ingest();
    // Twelve more join the queue behind the answered ones: the next sweep must find every one of them.
    const added = await addRequests(sb, { count: 12 });
    for (const request of answered) store.replies.enqueue(request.id, request.id < 'M' ? 'CREU1' : 'CRRET', { actor: TESTER });
    const listsBefore = (await listCalls(sb)).length;
    await fault(sb, { route: 'list', kind: 'latency', latencyMs: 30 });
    await fault(sb, { route: 'put', kind: 'latency', latencyMs: 5 });

    await Promise.all([ingest(), outbox({ concurrency: 2 }).drain()]);
    expect(store.replies.counts()).toMatchObject({ sent: 12, queued: 0 });
    // The sweep overlapped the PUTs: it read more than one page, and the PUTs popped the queue under it.
    expect((await listCalls(sb)).length - listsBefore).toBeGreaterThan(1);
    for (const request of added) expect(store.requests.get(request.id), request.id).toMatchObject({ group: 'pending' });
    expect(store.requests.counts().pending).toBe(added.length + answered.filter((r) => r.id >= 'M').length);
    expect(queued().map((r) => r.id).sort()).toEqual(added.map((r) => r.id).sort());
  });

  it('a CRRET’s request is back an hour later and a CREU’s a day later, with a new token the relay holds; the counts follow', async () => {
    await addRequests(sb, [{ id: 'RET' }, { id: 'USR' }]);
    await ingest();
    const tokens = { RET: store.requests.getRequestToken('RET'), USR: store.requests.getRequestToken('USR') };
    store.replies.enqueue('RET', 'CRRET', { actor: TESTER });
    store.replies.enqueue('USR', 'CREU1', { actor: TESTER });
    await outbox().drain();
    await ingest();
    // Both out of the queue: the CRRET's request still waits (pending), the CREU's has failed for now.
    expect(queued()).toEqual([]);
    expect(store.requests.counts()).toEqual({ pending: 1, failed: 1, connected: 0 });
    expect(store.requests.get('RET')).toMatchObject({ retries: 1, group: 'pending' });
    expect(store.requests.get('USR')).toMatchObject({ userErrors: 1, userErrorLimit: 4, group: 'failed' });

    await sandboxClock(REQUEUE_AFTER_MS.CRRET - 1000);
    await ingest();
    expect(queued()).toEqual([]);
    await sandboxClock(1000);
    await ingest();
    expect(queued().map((r) => r.id)).toEqual(['RET']);
    // The relay holds the token Concur issued when it requeued the request (the exchange will use it).
    expect(store.requests.getRequestToken('RET')).toBe(sb.state.get('RET')!.requestToken);
    expect(store.requests.getRequestToken('RET')).not.toBe(tokens.RET);
    expect(store.requests.counts()).toEqual({ pending: 1, failed: 1, connected: 0 });

    await sandboxClock(REQUEUE_AFTER_MS.CREU - REQUEUE_AFTER_MS.CRRET - 1000);
    await ingest();
    expect(store.requests.get('USR')).toMatchObject({ group: 'failed' });
    await sandboxClock(1000);
    await ingest();
    // Back for the traveller who fixed their data: waiting again, one of four user errors used.
    expect(queued().map((r) => r.id).sort()).toEqual(['RET', 'USR']);
    expect(store.requests.get('USR')).toMatchObject({ group: 'pending', userErrors: 1 });
    expect(store.requests.getRequestToken('USR')).toBe(sb.state.get('USR')!.requestToken);
    expect(store.requests.getRequestToken('USR')).not.toBe(tokens.USR);
    expect(store.requests.counts()).toEqual({ pending: 2, failed: 0, connected: 0 });
  });
});
