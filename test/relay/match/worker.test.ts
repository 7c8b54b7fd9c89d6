import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../../relay/base/metrics.js';
import type { AutoReply } from '../../../relay/base/config-shape.js';
import { createMatchWorker, type MatchWorker, type MatchWorkerOptions } from '../../../relay/match/worker.js';
import type { Store } from '../../../relay/store/index.js';
import type { MatchResult } from '../../../shared/match.js';
import { metricValue } from '../../helpers/metrics.js';
import { captureLog, sleep, waitFor, type CapturedLog } from '../helpers.js';
import { record, StoreHarness, TESTER } from '../store/helpers.js';
import { DIRECTORY_SECRET, TestDirectory } from './helpers.js';

/**
 * The auto-connect worker on a real SQLite file, asking a real HTTP directory on loopback: what
 * it asks, what it records, which replies it queues as `auto`, when it asks again, and that a
 * person's reply wins. (The reply's way on to Concur is the outbox's, tested with the full relay
 * in test/relay/boot/auto-connect.test.ts.)
 */

const MINUTE = 60_000;

let harness: StoreHarness;
let store: Store;
let directory: TestDirectory;
let log: CapturedLog;
let metrics: Metrics;
let woken: number;
const workers: MatchWorker[] = [];

beforeEach(async () => {
  harness = new StoreHarness();
  // The signature's timestamp is on the worker's clock, and the directory checks it against its own.
  harness.clock.ms = Date.now();
  store = harness.storeWith({ askDirectory: true });
  directory = await new TestDirectory().start();
  log = captureLog();
  metrics = new Metrics();
  woken = 0;
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.stop()));
  await directory.close();
  // No token, no secret, no directory's note in any log line.
  const text = log.text();
  expect(text).not.toContain('secret-request-token');
  expect(text).not.toContain(DIRECTORY_SECRET.slice(6, 30));
  expect(text).not.toContain('NOTE-FROM-DIRECTORY');
  harness.cleanup();
});

function worker(overrides: Partial<MatchWorkerOptions> = {}): MatchWorker {
  const made = createMatchWorker({
    store,
    directory: { url: directory.url, secret: DIRECTORY_SECRET, timeoutMs: 1_000, allowPrivate: true },
    autoReply: 'connect',
    logger: log.logger,
    metrics,
    now: harness.clock.now,
    retryDelaysMs: [5_000, 30_000],
    onReplied: () => woken++,
    ...overrides,
  });
  workers.push(made);
  return made;
}

const ingest = (...ids: string[]) => store.requests.upsertFromConcur(ids.map((id) => record(id)), harness.clock.iso());

describe('asking and recording', () => {
  it('a member under connect: CRSUC queued by auto, the outbox woken, the member id kept, the call timed', async () => {
    ingest('A');
    await worker().drain();
    expect(directory.calls).toHaveLength(1);
    expect(directory.calls[0]).toMatchObject({ signed: true, question: { data: { requestId: 'A', loyaltyNumber: 'LN-A' } } });
    const request = store.requests.get('A');
    expect(request?.match).toEqual({ result: 'member', note: null, at: harness.clock.iso() });
    expect(request?.reply).toMatchObject({ status: 'CRSUC', state: 'queued', requestedBy: 'auto' });
    expect(store.matches.memberId('A')).toBe('M-A');
    expect(woken).toBe(1);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/triplink_directory_call_duration_seconds_count\{result="member"\} 1/);
    expect(await metricValue(metrics, 'triplink_auto_replies_total', { status: 'CRSUC' })).toBe(1);
    // Answered for good: a second drain asks nothing.
    await worker().drain();
    expect(directory.calls).toHaveLength(1);
  });

  it('each answer under off, connect and all', async () => {
    const answers: Record<string, MatchResult> = { M: 'member', N: 'not_found', X: 'name_mismatch', V: 'needs_verification', U: 'unknown' };
    const replies: Record<AutoReply, Record<string, string | null>> = {
      off: { M: null, N: null, X: null, V: null, U: null },
      connect: { M: 'CRSUC', N: null, X: null, V: null, U: null },
      all: { M: 'CRSUC', N: 'CREU1', X: 'CREU2', V: 'CREU3', U: null },
    };
    directory.answer = (q) => ({ result: answers[q.data.requestId.slice(-1)]!, note: 'the reason NOTE-FROM-DIRECTORY' });
    for (const policy of ['off', 'connect', 'all'] as const) {
      const ids = Object.keys(answers).map((suffix) => `${policy}-${suffix}`);
      ingest(...ids);
      await worker({ autoReply: policy }).drain();
      const got = Object.fromEntries(ids.map((id) => [id.slice(-1), store.requests.get(id)?.reply?.status ?? null]));
      expect(got, policy).toEqual(replies[policy]);
      for (const id of ids) {
        expect(store.requests.get(id)?.match).toMatchObject({ result: answers[id.slice(-1)], note: 'the reason NOTE-FROM-DIRECTORY' });
      }
    }
    expect(await metricValue(metrics, 'triplink_auto_replies_total', { status: 'CRSUC' })).toBe(2);
    expect(await metricValue(metrics, 'triplink_auto_replies_total', { status: 'CREU2' })).toBe(1);
  });
});

describe('a call without a verdict', () => {
  it('is recorded as unknown with the reason, asked again twice more, then left for a person', async () => {
    directory.answer = () => ({ status: 500, body: 'NOTE-FROM-DIRECTORY' });
    ingest('A');
    const matcher = worker();
    await matcher.drain();
    expect(store.requests.get('A')?.match).toMatchObject({ result: 'unknown', note: expect.stringContaining('answered 500') });
    expect(store.matches.nextDueAt()).toBe(new Date(harness.clock.ms + 5_000).toISOString());
    harness.clock.advance(4_999);
    await matcher.drain();
    expect(directory.calls).toHaveLength(1);
    harness.clock.advance(1);
    // The second retry finds a directory that is up again, but says `unknown`: that is no verdict either.
    directory.answer = () => ({ result: 'unknown', note: 'NOTE-FROM-DIRECTORY: maintenance' });
    await matcher.drain();
    expect(store.requests.get('A')?.match).toMatchObject({ result: 'unknown', note: 'NOTE-FROM-DIRECTORY: maintenance' });
    harness.clock.advance(30_000);
    directory.answer = () => 'hang';
    await worker({ directory: { url: directory.url, secret: DIRECTORY_SECRET, timeoutMs: 200, allowPrivate: true } }).drain();
    expect(directory.calls).toHaveLength(3);
    expect(store.requests.get('A')?.match).toMatchObject({ result: 'unknown', note: 'the member directory did not answer within 0.2 s' });
    expect(store.requests.get('A')?.reply).toBeNull();
    expect(store.matches.nextDueAt()).toBeNull();
    harness.clock.advance(10 * MINUTE);
    await matcher.drain();
    expect(directory.calls).toHaveLength(3);
    expect(await metricValue(metrics, 'triplink_auto_replies_total', { status: 'CRSUC' })).toBe(0);
    expect(await metrics.registry.metrics()).toMatch(/triplink_directory_call_duration_seconds_count\{result="http_error"\} 1/);
    expect(await metrics.registry.metrics()).toMatch(/triplink_directory_call_duration_seconds_count\{result="timeout"\} 1/);
  });

  it('is not asked again when the token would have two minutes or less left', async () => {
    directory.answer = () => ({ status: 200, body: 'not json' });
    // Its token was issued 12 min 55 s ago: the next call (5 s later) would leave exactly 2 minutes.
    // (The clock goes back rather than forward: the directory checks the signature's time against its own.)
    harness.clock.advance(-(12 * MINUTE + 55_000));
    ingest('A');
    harness.clock.advance(12 * MINUTE + 55_000);
    await worker().drain();
    expect(store.requests.get('A')?.match).toMatchObject({ result: 'unknown', note: expect.stringContaining('not with JSON') });
    expect(store.matches.nextDueAt()).toBeNull();
  });
});

describe('people first', () => {
  it("a person's reply wins over a late answer: shown, nothing sent", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    directory.answer = async () => {
      await released;
      return { result: 'member', memberId: 'M-LATE' };
    };
    ingest('A');
    const draining = worker().drain();
    await waitFor(() => directory.calls.length === 1);
    store.replies.enqueue('A', 'CREU1', { actor: TESTER });
    release();
    await draining;
    const request = store.requests.get('A');
    expect(request?.reply).toMatchObject({ status: 'CREU1', requestedBy: 'tester' });
    expect(request?.match).toMatchObject({ result: 'member' });
    expect(woken).toBe(0);
    expect(log.lines().some((line) => String(line.msg).includes('a person had replied already'))).toBe(true);
  });

  it('a request a person answered before it was asked about is not asked at all', async () => {
    ingest('A', 'B');
    store.replies.enqueue('A', 'CRRET', { actor: TESTER });
    await worker().drain();
    expect(directory.calls.map((call) => call.question?.data.requestId)).toEqual(['B']);
    expect(store.requests.get('A')?.match).toBeNull();
  });
});

describe('running', () => {
  it('asks about new requests as they come, with at most `concurrency` calls in flight', async () => {
    let open = 0;
    let most = 0;
    directory.answer = async (q) => {
      most = Math.max(most, ++open);
      await sleep(20);
      open--;
      return { result: 'member', memberId: `M-${q.data.requestId}` };
    };
    worker({ concurrency: 3 }).start();
    const ids = Array.from({ length: 20 }, (_, i) => `R${String(i).padStart(2, '0')}`);
    ingest(...ids);
    await waitFor(() => ids.every((id) => store.requests.get(id)?.reply !== null), 5_000, 'every request answered');
    expect(most).toBe(3);
    expect(directory.calls).toHaveLength(20);
  });

  it('with every slot taken it waits for a call to end, even when more has fallen due (no spinning)', async () => {
    directory.answer = () => ({ answer: { result: 'member', memberId: 'M-A' }, delayMs: 500 });
    const start = harness.clock.ms;
    ingest('A');
    harness.clock.ms = start + 5_000;
    ingest('B');
    harness.clock.ms = start;
    let looks = 0;
    const matches = store.matches;
    const matcher = worker({
      concurrency: 1,
      store: {
        events: store.events,
        matches: {
          claimDue: (at, limit, leaseMs) => matches.claimDue(at, limit, leaseMs),
          nextDueAt: (after) => {
            looks++;
            return matches.nextDueAt(after);
          },
          record: (id, outcome) => matches.record(id, outcome),
          close: (id) => matches.close(id),
        },
      },
    });
    matcher.start();
    await waitFor(() => matcher.inFlight === 1);
    // B falls due while the only slot is A's: the worker sleeps until A's call ends.
    harness.clock.ms = start + 6_000;
    matcher.kick();
    const before = looks;
    await sleep(200);
    expect(looks - before).toBeLessThanOrEqual(2);
    expect(matcher.inFlight).toBe(1);
    await waitFor(() => directory.calls.length === 2, 5_000, 'B asked once A was answered');
  });

  it('stop() waits for the calls in flight and records them', async () => {
    directory.answer = () => ({ answer: { result: 'member', memberId: 'M-1' }, delayMs: 100 });
    const matcher = worker();
    matcher.start();
    ingest('A');
    await waitFor(() => matcher.inFlight === 1);
    await matcher.stop();
    expect(store.requests.get('A')?.reply).toMatchObject({ status: 'CRSUC' });
  });
});

describe('on its own timer', () => {
  it('asks again when each retry falls due, without a kick', async () => {
    directory.answer = () => ({ status: 500, body: '' });
    const matcher = worker({ now: Date.now, retryDelaysMs: [100, 200] });
    matcher.start();
    ingest('A');
    await waitFor(() => directory.calls.length === 3, 3_000, 'three calls');
    await sleep(300);
    expect(directory.calls).toHaveLength(3);
  });
});
