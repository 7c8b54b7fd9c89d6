import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StoredEvent } from '../../../../relay/store/index.js';
import { DATABASES, DatabaseHarness, settled, type TestStore } from '../databases.js';

/** Several relays on one PostgreSQL database: every store hears every event, once, in id order. */

const POSTGRES = DATABASES.find((database) => database.kind === 'postgres');
if (POSTGRES === undefined) throw new Error('no PostgreSQL in DATABASES');

const STATUS = { state: 'ok', lastPollAt: null, lastSuccessAt: null, lastError: null } as const;

describe('the event log of several relays on one PostgreSQL database', () => {
  let harness: DatabaseHarness;
  let a: TestStore;
  let b: TestStore;
  beforeEach(async () => {
    harness = new DatabaseHarness(POSTGRES);
    a = await harness.store();
    b = await harness.store();
  });
  afterEach(() => harness.cleanup());

  const hear = (store: TestStore): number[] => {
    const heard: number[] = [];
    store.events.subscribe((event) => heard.push(event.id));
    return heard;
  };
  const append = (store: TestStore, lastError: string): Promise<StoredEvent> =>
    Promise.resolve(store.events.append('concur.state_changed', { ...STATUS, lastError }));
  const ids = async (store: TestStore): Promise<number[]> => (await store.events.after(0, 1000)).map((event) => event.id);

  it('tells a subscriber of relay B about an event relay A appended, once, in order', async () => {
    const heardOnB: StoredEvent[] = [];
    b.events.subscribe((event) => heardOnB.push(event));
    const first = await append(a, 'one');
    const second = await append(a, 'two');
    // Through the notification alone: B is not asked to catch up.
    await vi.waitFor(() => expect(heardOnB.map((e) => e.id)).toEqual([first.id, second.id]));
    expect(heardOnB).toEqual([first, second]);
    await settled(b);
    expect(heardOnB).toHaveLength(2);
  });

  it('resumes on relay B after the last event id a client had from relay A', async () => {
    const seen = await append(a, 'seen');
    const missed = [await append(a, 'missed 1'), await append(a, 'missed 2')];
    expect(await b.events.after(seen.id, 10)).toEqual(missed);
    expect(await b.events.latestId()).toBe(missed[1]?.id);
  });

  it('delivers appends made on both relays at once to both, in one id order, without a gap', async () => {
    const onA = hear(a);
    const onB = hear(b);
    const appended = await Promise.all(
      Array.from({ length: 40 }, (_, i) => append(i % 2 === 0 ? a : b, `append ${i}`)),
    );
    await settled(a);
    await settled(b);
    const stored = await ids(a);
    expect(stored).toHaveLength(40);
    expect(stored).toEqual(appended.map((event) => event.id).sort((x, y) => x - y));
    expect(onA).toEqual(stored);
    expect(onB).toEqual(stored);
  });

  it('commits ids in the order they were taken, so a reader never moves past one still to commit', async () => {
    const c = await harness.store();
    const onC = hear(c);
    // A takes its id and stays in its transaction until the gate opens.
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let held = false;
    a.events.onAppend(async () => {
      if (held) return;
      held = true;
      await gate;
    });
    const first = append(a, 'taken first');
    await vi.waitFor(() => expect(held).toBe(true));
    // B appends meanwhile: it waits for A's transaction (a lock not granted), or, were the ids
    // not held in order, takes the next id and commits before A.
    const second = append(b, 'taken second');
    let secondDone = false;
    void second.then(() => (secondDone = true));
    const admin = new pg.Client({ connectionString: await harness.url() });
    await admin.connect();
    try {
      await vi.waitFor(async () => {
        const waiting = await admin.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        expect(waiting.rowCount !== 0 || secondDone).toBe(true);
      });
    } finally {
      await admin.end();
    }
    open();
    const events = [await first, await second];
    await settled(c);
    expect(onC).toEqual(events.map((event) => event.id));
    expect(onC).toEqual(await ids(c));
  });

  it('listens again after losing its connection, and catches up with what it missed meanwhile', async () => {
    const onB = hear(b);
    const before = await append(a, 'before');
    await vi.waitFor(() => expect(onB).toEqual([before.id]));
    const admin = new pg.Client({ connectionString: await harness.url() });
    await admin.connect();
    try {
      const terminated = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'triplink-relay notices'",
      );
      expect(terminated.rowCount).toBe(2);
      const missed = await append(a, 'while B was away');
      await vi.waitFor(() => expect(onB).toEqual([before.id, missed.id]), { timeout: 10_000 });
      // Listening again: the next one arrives by notification too.
      const after = await append(a, 'after');
      await vi.waitFor(() => expect(onB).toEqual([before.id, missed.id, after.id]), { timeout: 10_000 });
    } finally {
      await admin.end();
    }
  });
});
