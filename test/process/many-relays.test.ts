import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type RunningSandbox } from '../../relay/sandbox/server.js';
import { sameAnnouncement } from '../../relay/ingest/summary.js';
import { Summary } from '../../shared/models.js';
import { dropDatabase, freshDatabase, onDatabase } from '../helpers/postgres.js';
import { concurEnv, eventually, runRelay, type RelayProcess } from '../helpers/relay-process.js';
import { API_KEY, api, pendingIds, startRelays, stopAllRelays } from '../helpers/many-relays.js';
import { connectSse } from '../helpers/sse-client.js';

/**
 * Three relays as real processes on one PostgreSQL database, the sandbox as their Concur (issue
 * 18): one polls, another takes over when it is SIGKILLed mid-sweep, nothing is announced twice,
 * an event stream on one relay carries the polls of another and resumes on a third. The tests of
 * this file run in order on the same three relays (and what is left of them).
 */

/** What a follower logs at each try for the poller's lock (boot/database.ts). */
const FOLLOWER_TRY = 'another relay holds the poller lock';

let sandbox: RunningSandbox;
let url: string;
let relays: RelayProcess[] = [];

async function polls(relay: RelayProcess): Promise<boolean> {
  const body = (await (await fetch(`${relay.url}/healthz`)).json()) as { status: string; poller: boolean };
  expect(body.status).toBe('ok');
  return body.poller;
}

async function leaderGauge(relay: RelayProcess): Promise<string | undefined> {
  const text = await (await api(relay, '/metrics')).text();
  return /^triplink_poller_leader (\d)$/m.exec(text)?.[1];
}

/** The relays alive, once exactly one of them says it polls (each relay's /healthz and /metrics agree). */
async function theOnePoller(alive: readonly RelayProcess[]): Promise<RelayProcess> {
  return eventually(async () => {
    const roles = await Promise.all(alive.map(polls));
    if (roles.filter(Boolean).length !== 1) return undefined;
    const gauges = await Promise.all(alive.map(leaderGauge));
    expect(gauges).toEqual(roles.map((role) => (role ? '1' : '0')));
    return alive[roles.indexOf(true)];
  }, 20_000);
}

/** Every try for the lock a relay logged as a follower. */
const allTries = (relay: RelayProcess) => relay.output.filter((line) => line.includes(FOLLOWER_TRY));

/** Every request.created the database holds, by request id. */
async function createdCounts(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const { data } of await onDatabase<{ data: string }>(url, "SELECT data FROM events WHERE type = 'request.created'")) {
    const id = (JSON.parse(data) as { id: string }).id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** The summaries the database holds, in the order they were announced. */
async function summaries(): Promise<Summary[]> {
  const rows = await onDatabase<{ data: string }>(url, "SELECT data FROM events WHERE type = 'summary' ORDER BY id");
  return rows.map(({ data }) => Summary.parse(JSON.parse(data)));
}

beforeAll(async () => {
  url = await freshDatabase();
  sandbox = await startSandbox({ seed: false, random: 5 });
  for (let i = 0; i < 3; i++) sandbox.state.add();
  relays = await startRelays(3, { ...concurEnv(sandbox, '3.0'), RELAY_API_KEYS: API_KEY, RELAY_DB: url, POLL_INTERVAL_SECONDS: '1' });
}, 90_000);

afterAll(async () => {
  await stopAllRelays();
  await sandbox?.close();
  // Unset when beforeAll failed before it made the database.
  if ((url as string | undefined) !== undefined) await dropDatabase(url);
});

describe('three relays on one PostgreSQL database', () => {
  it('exactly one polls, and every relay shows what it polled', async () => {
    await theOnePoller(relays);
    for (const relay of relays) await eventually(async () => (await pendingIds(relay)).length === 3, 20_000);
  }, 60_000);

  it('says where its database is without the password, which no line of any relay shows', () => {
    const password = decodeURIComponent(new URL(url).password);
    expect(password).not.toBe('');
    for (const relay of relays) {
      expect(relay.output.some((line) => line.includes('database      PostgreSQL at postgres://postgres:***@'))).toBe(true);
      expect(relay.output.filter((line) => line.includes(password))).toEqual([]);
    }
  });

  it("an event stream on one relay carries another relay's poll, and resumes with Last-Event-ID on a third", async () => {
    const poller = await theOnePoller(relays);
    const [b, c] = relays.filter((relay) => relay !== poller) as [RelayProcess, RelayProcess];
    const auth = { authorization: `Bearer ${API_KEY}` };
    const onB = await connectSse(`${b.url}/api/v1/events`, auth);
    const first = sandbox.state.add();
    const seen = await onB.waitFor(
      () => onB.messages.find((m) => m.event === 'request.created' && (JSON.parse(m.data) as { id: string }).id === first.id),
      20_000,
      `request.created of ${first.id} on relay B`,
    );
    onB.close();
    const second = sandbox.state.add();
    // Polled (by the poller) while no stream is open: the resumed stream must bring it.
    await eventually(async () => (await pendingIds(c)).includes(second.id), 20_000);
    const onC = await connectSse(`${c.url}/api/v1/events`, { ...auth, 'last-event-id': seen.id! });
    const created = () => onC.messages.filter((m) => m.event === 'request.created').map((m) => (JSON.parse(m.data) as { id: string }).id);
    await onC.waitFor(() => (created().includes(second.id) ? true : undefined), 20_000, `request.created of ${second.id} on relay C`);
    onC.close();
    // After the event it resumed from: the first request is not announced again, and ids only grow.
    expect(created()).not.toContain(first.id);
    const ids = onC.messages.filter((m) => m.id !== undefined).map((m) => Number(m.id));
    expect(ids.every((id) => id > Number(seen.id))).toBe(true);
    // Each poll's change is announced once, by the relay that polls, not once by every relay.
    const announced = await eventually(async () => {
      const all = await summaries();
      return all.some((summary) => summary.counts.pending === 5) ? all : undefined;
    }, 20_000);
    for (let i = 1; i < announced.length; i++) expect(sameAnnouncement(announced[i - 1]!, announced[i]!), `summary ${i + 1} repeats ${i}`).toBe(false);
  }, 60_000);

  it('SIGKILL the poller mid-sweep: another polls within two poll intervals, and nothing is announced twice', async () => {
    const poller = await theOnePoller(relays);
    const survivors = relays.filter((relay) => relay !== poller);
    // Slow pages and three of them in the pending list, so that a sweep is caught half-way.
    for (let i = 0; i < 25; i++) sandbox.state.add();
    sandbox.faults.add({ route: 'list', kind: 'latency', latencyMs: 300 });
    const mark = sandbox.calls.list().length;
    // A page after the first one on the wire: the sweep has begun and is not over.
    await eventually(() => sandbox.calls.list().slice(mark).some((call) => call.route === 'list' && call.query.offset !== undefined && call.status === null), 20_000);
    const tried = survivors.map((relay) => relay.output.length);
    await poller.stop('SIGKILL');
    relays = survivors;

    const next = await theOnePoller(survivors);
    // Counted in the new poller's own tries for the lock, one each poll interval: at most two.
    const tries = next.output.slice(tried[survivors.indexOf(next)]).filter((line) => line.includes(FOLLOWER_TRY));
    expect(tries.length).toBeLessThanOrEqual(2);
    // …each try one poll interval (POLL_INTERVAL_SECONDS=1) after the one before.
    for (const line of tries) expect(JSON.parse(line)).toMatchObject({ retryMs: 1000 });
    expect(allTries(next).length).toBeGreaterThan(0);
    expect(next.output.slice(tried[survivors.indexOf(next)]).some((line) => line.includes('this relay polls Concur now'))).toBe(true);

    sandbox.faults.clear();
    const all = sandbox.state.all().map((request) => request.id);
    expect(all).toHaveLength(30);
    for (const relay of survivors) {
      await eventually(async () => {
        const shown = await pendingIds(relay);
        return all.every((id) => shown.includes(id));
      }, 30_000);
    }
    await eventually(async () => (await createdCounts()).size === all.length, 30_000);
    const counts = await createdCounts();
    expect([...counts.values()].every((count) => count === 1)).toBe(true);
    expect([...counts.keys()].sort()).toEqual([...all].sort());
  }, 90_000);
});

describe('a relay whose PostgreSQL cannot be reached', () => {
  it('does not start, says so in one line, and never shows the password', async () => {
    const password = 'pw-hush-unreachable-4711';
    const run = runRelay({ ...concurEnv(sandbox, '3.0'), RELAY_API_KEYS: API_KEY, RELAY_DB: `postgres://relay:${password}@127.0.0.1:1/triplink` });
    expect(await run.exited).toBe(1);
    const said = run.output.filter((line) => line.startsWith('The relay could not start: '));
    expect(said).toHaveLength(1);
    expect(run.output.filter((line) => line.includes(password))).toEqual([]);
    expect(run.output.join('\n')).not.toMatch(/^\s+at /m);
  }, 30_000);
});
