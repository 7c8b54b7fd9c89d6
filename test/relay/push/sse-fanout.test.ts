import { afterEach, describe, expect, it } from 'vitest';
import { record } from '../store/helpers.js';
import { connectSse, type SseConnection, type SseMessage } from '../../helpers/sse-client.js';
import { EventsServer, expectContract } from '../api/routes/events-server.js';

/**
 * The fan-out over a store that answers with promises (relay/push/sse-fanout.ts): every read may
 * yield, so events commit while a stream reads the log. No client may miss one or get one twice.
 */

const open: SseConnection[] = [];
let server: EventsServer | undefined;

afterEach(async () => {
  for (const connection of open.splice(0)) connection.close();
  await server?.stop();
  server = undefined;
});

async function sse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  const connection = await connectSse(url, headers);
  open.push(connection);
  return connection;
}

const requestIds = (messages: readonly SseMessage[]): string[] =>
  messages.filter((m) => m.event === 'request.created').map((m) => (JSON.parse(m.data) as { id: string }).id);
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('the SSE fan-out over a store whose reads yield', () => {
  it('gives every client every event once, in order, while events commit during its reads', async () => {
    server = new EventsServer({ heartbeatMs: 60_000, batchSize: 3 });
    server.yieldingReads = true;
    await server.start();
    const s = server;
    const clients = [await sse(s.url), await sse(s.url), await sse(s.url)];
    for (const client of clients) await client.waitForMessages(1);

    const ids = Array.from({ length: 40 }, (_, i) => `R-${i}`);
    let late: SseConnection | undefined;
    let lateFrom = '';
    for (const [i, id] of ids.entries()) {
      s.store.requests.upsertFromConcur([record(id)], s.harness.clock.advance(1000));
      // Some commits back to back, some with the streams' reads in between.
      if (i % 3 !== 0) await nextTurn();
      if (i === 19) {
        // One more client resumes half-way, from the tenth event, while the others are still reading.
        const had = await clients[0]!.waitForMessages(11);
        lateFrom = had[10]?.id ?? '';
        late = await sse(s.url, { 'last-event-id': lateFrom });
      }
    }

    for (const client of clients) {
      const messages = await client.waitForMessages(1 + ids.length, 5000);
      expect(requestIds(messages)).toEqual(ids);
      expectContract(messages);
    }
    const resumed = await late!.waitForMessages(ids.length - 10, 5000);
    expect(requestIds(resumed)).toEqual(ids.slice(10));
    expect(Number(resumed[0]!.id)).toBe(Number(lateFrom) + 1);
    expectContract(resumed);

    // Nothing more comes: no event twice, even once everything has settled.
    s.store.requests.upsertFromConcur([record('LAST')], s.harness.clock.advance(1000));
    const all = await clients[1]!.waitForMessages(2 + ids.length, 5000);
    expect(requestIds(all)).toEqual([...ids, 'LAST']);
  });
});
