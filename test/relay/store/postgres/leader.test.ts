import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LeaderTry, pgLeadership } from '../../../../relay/store/postgres/leader.js';
import type { Leadership } from '../../../../relay/workers/leader.js';
import { freshDatabase } from '../../../helpers/postgres.js';

/**
 * Relays contending for the poller's lock on the real cluster. Short retry intervals, and every
 * claim about time made in tries: a follower that takes over does so in at most two of its own.
 */

const RETRY_MS = 100;
/** Generous: only how long the test waits for a behaviour, never what it asserts. */
const WAIT = { timeout: 15_000, interval: 20 };

interface Contender {
  name: string;
  leadership: Leadership;
  tries: LeaderTry[];
}

let url: string;
let admin: pg.Client;
let nextKey = 1;
const running: Contender[] = [];
/** Changes of leadership of every contender, in the order they happened. */
let changes: string[] = [];

beforeAll(async () => {
  url = await freshDatabase();
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
});
afterAll(() => admin.end());
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.leadership.stop()));
  changes = [];
});

function contenders(names: string[], key = nextKey++): Contender[] {
  return names.map((name) => {
    const tries: LeaderTry[] = [];
    const leadership = pgLeadership({ url, retryMs: RETRY_MS, key, onTry: (outcome) => tries.push(outcome) });
    leadership.onChange((leader) => changes.push(`${name} ${leader ? 'leads' : 'steps down'}`));
    const contender = { name, leadership, tries };
    running.push(contender);
    return contender;
  });
}

const leaders = (all: Contender[]): string[] => all.filter((c) => c.leadership.isLeader()).map((c) => c.name);

/** Waits until each has made `more` tries beyond the ones it had made when called. */
async function afterTries(all: Contender[], more: number): Promise<void> {
  const from = all.map((c) => c.tries.length);
  await vi.waitFor(() => all.forEach((c, i) => expect(c.tries.length).toBeGreaterThanOrEqual(from[i]! + more)), WAIT);
}

async function split(all: Contender[]): Promise<{ leader: Contender; followers: Contender[] }> {
  await afterTries(all, 1);
  expect(leaders(all)).toHaveLength(1);
  return { leader: all.find((c) => c.leadership.isLeader())!, followers: all.filter((c) => !c.leadership.isLeader()) };
}

/** The backend that holds the advisory lock `key`. */
async function holderOf(key: number): Promise<number | undefined> {
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [key],
  );
  return rows[0]?.pid;
}

describe('leadership on PostgreSQL', () => {
  it('makes exactly one of two contenders the leader, and keeps it so', async () => {
    const both = contenders(['a', 'b']);
    const { leader } = await split(both);
    await afterTries(both, 3);
    expect(leaders(both)).toEqual([leader.name]);
    expect(changes).toEqual([`${leader.name} leads`]);
    const follower = both.find((c) => c !== leader)!;
    expect(follower.tries.filter((t) => t === 'follower').length).toBeGreaterThanOrEqual(4);
  });

  it("hands over within two of the follower's tries when the leader's connection is killed, the old leader stepping down first", async () => {
    const key = nextKey++;
    const both = contenders(['a', 'b'], key);
    const { leader, followers } = await split(both);
    const follower = followers[0]!;
    const pid = await holderOf(key);
    expect(pid).toBeDefined();

    const triesBefore = follower.tries.length;
    expect((await admin.query('SELECT pg_terminate_backend($1) AS done', [pid])).rows[0].done).toBe(true);
    await vi.waitFor(() => expect(follower.leadership.isLeader()).toBe(true), WAIT);

    expect(follower.tries.length - triesBefore).toBeLessThanOrEqual(2);
    expect(leader.leadership.isLeader()).toBe(false);
    expect(changes).toEqual([`${leader.name} leads`, `${leader.name} steps down`, `${follower.name} leads`]);
    // The old leader comes back as a follower, on a new connection.
    await afterTries(both, 3);
    expect(leaders(both)).toEqual([follower.name]);
    expect(leader.tries.slice(-2)).toEqual(['follower', 'follower']);
  });

  it('gives the lock up on stop(): a follower takes it within two tries, and the stopped one tries no more', async () => {
    const key = nextKey++;
    const three = contenders(['a', 'b', 'c'], key);
    const { leader, followers } = await split(three);
    const triesBefore = followers.map((f) => f.tries.length);

    await leader.leadership.stop();
    expect(leader.leadership.isLeader()).toBe(false);
    await vi.waitFor(() => expect(leaders(followers)).toHaveLength(1), WAIT);
    const next = followers.find((f) => f.leadership.isLeader())!;
    expect(next.tries.length - triesBefore[followers.indexOf(next)]!).toBeLessThanOrEqual(2);

    const stoppedTries = leader.tries.length;
    await afterTries(followers, 2);
    expect(leader.tries.length).toBe(stoppedTries);
    expect(leaders(three)).toEqual([next.name]);
    expect(await holderOf(key)).toBeDefined();
  });

  it('never leads without a server, and keeps trying until stopped', async () => {
    const dead = new URL(url);
    dead.port = String(await closedPort());
    const tries: LeaderTry[] = [];
    const lonely = pgLeadership({ url: dead.href, retryMs: RETRY_MS, key: nextKey++, onTry: (t) => tries.push(t) });
    running.push({ name: 'lonely', leadership: lonely, tries });
    await vi.waitFor(() => expect(tries.length).toBeGreaterThanOrEqual(2), WAIT);
    expect(new Set(tries)).toEqual(new Set(['failed']));
    expect(lonely.isLeader()).toBe(false);
  });
});

async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
