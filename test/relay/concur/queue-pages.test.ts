import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientCredentialsGrant } from '../../../relay/concur/client-credentials.js';
import { ConcurClient } from '../../../relay/concur/client.js';
import type { PageReading } from '../../../relay/concur/decode-record.js';
import type { ConcurRecord } from '../../../relay/concur/record.js';
import { QueueGate } from '../../../relay/concur/queue-gate.js';
import { queuePages } from '../../../relay/concur/queue-pages.js';
import { type RunningSandbox, startSandbox } from '../../../relay/sandbox/server.js';

/**
 * The relay's 3.2 client against the sandbox's 3.2 queue over real HTTP: JSON pages by integer
 * offset, and no request ever slips past a sweep because a PUT popped one: between pages, or racing
 * the pages (the gate holds a PUT until the page on the wire is answered).
 */

let sandbox: RunningSandbox;
beforeEach(async () => {
  sandbox = await startSandbox({ seed: 25, random: 3, ids: 'guid' });
});
afterEach(async () => {
  await sandbox.close();
});

function client(): ConcurClient {
  const auth = clientCredentialsGrant({ tokenUrl: `${sandbox.url}/oauth2/v0/token`, clientId: sandbox.clientId, clientSecret: sandbox.clientSecret });
  return new ConcurClient({ baseUrl: sandbox.url, auth, version: '3.2' });
}

// 3.2's queue: Pending and Processing (a list hands tokens out) alike, until a PUT pops them.
const queued = () =>
  sandbox.state
    .all()
    .filter((r) => (r.status === 'Pending' || r.status === 'Processing') && !sandbox.state.isPopped(r))
    .map((r) => r.id);

describe('the 3.2 client', () => {
  it('reads the whole queue as JSON by integer offset, with a Bearer token and no status filter', async () => {
    const all = await client().listAll({ status: 'Pending', limit: 10 });
    expect(all.map((r) => r.id)).toEqual(queued());
    expect(all[0]!.userId).toMatch(/^[0-9a-f-]{36}$/);
    expect(all.every((r) => r.emailAddresses.length > 0 && r.discountCode === null)).toBe(true);
    const lists = sandbox.calls.list().filter((call) => call.route === 'list');
    // Two pages on the wire while one is read: the last full page's answer cannot say that the
    // next holds the last five, so one call past the end finds nothing.
    expect(lists.map((call) => [call.path, call.query, call.format, call.authScheme, call.auth])).toEqual(
      [0, 10, 20, 30].map((offset) => ['/api/v3.2/common/connectionrequests/', { limit: '10', offset: String(offset) }, 'json', 'Bearer', 'ok']),
    );
  });

  it('refuses a status filter 3.2 does not have, and following a NextPage after PUTs', async () => {
    await expect(client().listPage({ status: 'Failed' })).rejects.toThrow(/API 3.2 has no status filter/);
    await expect(client().listPage({ nextPage: `${sandbox.url}/api/v3.2/common/connectionrequests/?offset=10` })).rejects.toThrow(RangeError);
  });

  it('PUTs {"status": …} as JSON, and the request leaves the queue', async () => {
    const c = client();
    const [first] = await c.listAll({ limit: 10 });
    await c.putStatus(first!.id, 'CRSUC');
    const put = sandbox.calls.list().find((call) => call.route === 'put');
    expect(put).toMatchObject({ status: 204, putStatus: 'CRSUC', path: `/api/v3.2/common/connectionrequests/${first!.id}` });
    expect((await c.listAll({ limit: 10 })).map((r) => r.id)).not.toContain(first!.id);
  });

  it('skips nothing when PUTs pop requests of pages already read, between two pages', async () => {
    const c = client();
    const before = queued();
    const seen: string[] = [];
    let replied = 0;
    for await (const page of c.pages({ limit: 10 })) {
      seen.push(...page.items.map((r) => r.id));
      // Answer three of this page before the next is read: each moves the queue one place left.
      for (const record of page.items.slice(0, 3)) await c.putStatus(record.id, replied++ % 2 === 0 ? 'CRSUC' : 'CREU1');
    }
    expect(new Set(seen)).toEqual(new Set(before));
    expect(replied).toBe(9);
  });

  it('skips nothing when PUTs race the pages on the wire', async () => {
    // Slow pages, fast PUTs: without the gate, a PUT answered while a page is on its way moves the
    // queue under that page and its first request is never read.
    sandbox.faults.add({ route: 'list', kind: 'latency', latencyMs: 40 });
    const c = client();
    const before = queued();
    const seen: string[] = [];
    const puts: Array<Promise<void>> = [];
    for await (const page of c.pages({ limit: 5 })) {
      seen.push(...page.items.map((r) => r.id));
      // Fired, not awaited: the next page is already on its way (read ahead).
      for (const record of page.items.slice(0, 2)) puts.push(c.putStatus(record.id, 'CRRET'));
    }
    await Promise.all(puts);
    expect(new Set(seen)).toEqual(new Set(before));
    expect(puts.length).toBeGreaterThanOrEqual(8);
    // Each CRRET popped its request for an hour.
    expect(sandbox.state.all().filter((r) => r.poppedUntil !== null)).toHaveLength(puts.length);
  });
});

/**
 * A queue of `size` requests (ids "0", "1", …) behind a hand-held fetchPage: the first `held` calls
 * wait until the test answers them (all of them unless told), later ones are answered at once.
 * `short` makes the page at an offset come back with fewer requests, with more behind it.
 */
class HeldQueue {
  readonly asked: number[] = [];
  private readonly answers: Array<() => void> = [];
  private readonly short: Readonly<Record<number, number>>;
  private readonly held: number;
  constructor(
    private size: number,
    private readonly limit: number,
    options: { short?: Record<number, number>; held?: number } = {},
  ) {
    this.short = options.short ?? {};
    this.held = options.held ?? Infinity;
  }

  fetchPage = (offset: number): Promise<PageReading> => {
    this.asked.push(offset);
    return new Promise((resolve) => {
      const answer = () => {
        const count = this.short[offset] ?? Math.max(0, Math.min(this.limit, this.size - offset));
        const more = offset + count < this.size;
        const records = () => Array.from({ length: count }, (_, i) => ({ id: String(offset + i) }) as unknown as ConcurRecord);
        resolve({ count, nextPage: more ? `?offset=${offset + count}` : null, records });
      };
      if (this.asked.length <= this.held) this.answers.push(answer);
      else answer();
    });
  };

  /** Answers the oldest call waiting. */
  answerNext(): void {
    this.answers.shift()!();
  }

  /** Answers every call waiting (a generator that ends waits for what it has on the wire). */
  answerAll(): void {
    while (this.answers.length > 0) this.answerNext();
  }

  /** PUTs through the gate pop requests: the queue is shorter. */
  pop(by: number): void {
    this.size -= by;
  }
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('reading ahead (queuePages)', () => {
  it('keeps two pages on the wire while one is stored', async () => {
    const queue = new HeldQueue(50, 10);
    const pages = queuePages(queue.fetchPage, new QueueGate(), { maxPages: 100, limit: 10, ahead: 2 });
    const first = pages.next();
    await turn();
    expect(queue.asked).toEqual([0]);
    queue.answerNext();
    await first;
    // Page 0 is in the caller's hands: 10 and 20 are already asked for.
    expect(queue.asked).toEqual([0, 10, 20]);
    const second = pages.next();
    queue.answerNext();
    await second;
    expect(queue.asked).toEqual([0, 10, 20, 30]);
    queue.answerAll();
    await pages.return(undefined);
  });

  it('ends only once every call it made is answered: no list call outlives its sweep', async () => {
    const queue = new HeldQueue(15, 10);
    let ended = false;
    const reading = (async () => {
      for await (const page of queuePages(queue.fetchPage, new QueueGate(), { maxPages: 100, limit: 10, ahead: 2 })) void page;
      ended = true;
    })();
    await turn();
    queue.answerNext();
    await turn();
    queue.answerNext();
    await turn();
    await turn();
    // The page at 10 was the last; the call for 20 (asked for with it) is still out.
    expect(queue.asked).toEqual([0, 10, 20]);
    expect(ended).toBe(false);
    queue.answerNext();
    await reading;
    expect(ended).toBe(true);
  });

  it('asks again from where a short page really ended: the pages planned from the wrong end are dropped', async () => {
    // The second page has 7 where 10 were asked for, with more to come; the queue holds 30.
    const queue = new HeldQueue(30, 10, { short: { 10: 7 }, held: 0 });
    const ids: string[] = [];
    for await (const page of queuePages(queue.fetchPage, new QueueGate(), { maxPages: 100, limit: 10, ahead: 2 })) {
      ids.push(...page.items.map((record) => record.id));
    }
    // 20 was asked for as if 10 were full; its answer is dropped and 17 asked for instead.
    expect(queue.asked).toEqual([0, 10, 20, 17, 27, 37]);
    expect(ids).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
  });

  it('counts the PUTs made between its pages: a page planned before them starts that many places earlier', async () => {
    const gate = new QueueGate();
    const queue = new HeldQueue(40, 10);
    const pages = queuePages(queue.fetchPage, gate, { maxPages: 100, limit: 10, ahead: 2 });
    const first = pages.next();
    await turn();
    queue.answerNext();
    await first;
    expect(queue.asked).toEqual([0, 10, 20]);
    // Three PUTs wait for the pages on the wire, and go before the next page is asked for.
    const puts = [1, 2, 3].map(() => gate.run('put', async () => queue.pop(1)));
    queue.answerNext();
    queue.answerNext();
    await Promise.all(puts);
    await pages.next();
    await turn();
    // Page 30, planned before the PUTs, enters the gate after them: it starts at 27.
    expect(queue.asked).toEqual([0, 10, 20, 27]);
    queue.answerAll();
    await pages.return(undefined);
  });

  it('a page planned from a wrong end and still waiting at the gate is never fetched; those replacing it allow for the PUTs since', async () => {
    const gate = new QueueGate();
    // The page at 20 comes back short, with more behind it; the first three calls are answered by hand.
    const queue = new HeldQueue(50, 10, { short: { 20: 5 }, held: 3 });
    const pages = queuePages(queue.fetchPage, gate, { maxPages: 100, limit: 10, ahead: 2 });
    const first = pages.next();
    await turn();
    queue.answerNext();
    await first;
    expect(queue.asked).toEqual([0, 10, 20]);
    // A PUT waits for the pages on the wire; the page at 30, asked for next, waits behind it.
    let release!: () => void;
    const put = gate.run('put', () => new Promise<void>((resolve) => (release = resolve)).then(() => queue.pop(1)));
    const second = pages.next();
    queue.answerNext();
    await second;
    const third = pages.next();
    queue.answerNext();
    await turn();
    await turn();
    release();
    await put;
    await third;
    await turn();
    // 30 was planned as if 20 were full: dropped unasked. The PUT popped one: 25 less one, then on.
    expect(queue.asked).toEqual([0, 10, 20, 24, 34]);
    queue.answerAll();
    await pages.return(undefined);
  });

  it('without a limit reads one page ahead, each from where the last really ended', async () => {
    const queue = new HeldQueue(25, 10);
    const pages = queuePages(queue.fetchPage, new QueueGate(), { maxPages: 100, limit: undefined, ahead: 2 });
    const read: number[] = [];
    const reading = (async () => {
      for await (const page of pages) read.push(page.items.length);
    })();
    for (let i = 0; i < 3; i++) {
      await turn();
      queue.answerNext();
    }
    await reading;
    expect(queue.asked).toEqual([0, 10, 20]);
    expect(read).toHaveLength(3);
  });
});
