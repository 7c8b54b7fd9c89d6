import { type ConnectionRequest, RequestsPage } from '../../shared/models.js';
import { startRelayProcess, type RelayProcess } from './relay-process.js';

/** Several relay processes on one database (test/process/many-relays*.test.ts). */

export const API_KEY = 'many-relays-key-0123456789';

export const api = (relay: RelayProcess, path: string, init: RequestInit = {}) =>
  fetch(`${relay.url}${path}`, { ...init, headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...init.headers } });

/** Every relay process this file started, so that its end stops them, whatever happened before. */
const started = new Set<RelayProcess>();

// A test file's process may end without its afterAll (a crash, a timeout that kills the worker):
// its relays must not outlive it, still holding connections to the cluster.
process.once('exit', () => {
  for (const relay of started) relay.proc.kill('SIGKILL');
});

/** One relay process, stopped by `stopAllRelays`. */
export async function startRelay(env: Record<string, string>): Promise<RelayProcess> {
  const relay = await startRelayProcess(env, 30_000);
  started.add(relay);
  return relay;
}

/** `count` relays with `env`: the first alone (it migrates the database), the others side by side. */
export async function startRelays(count: number, env: Record<string, string>): Promise<RelayProcess[]> {
  const relays = [await startRelay(env)];
  relays.push(...(await Promise.all(Array.from({ length: count - 1 }, () => startRelay(env)))));
  return relays;
}

/** SIGKILLs every relay this file started that is still running (for afterAll). */
export async function stopAllRelays(): Promise<void> {
  await Promise.all([...started].map((relay) => relay.stop('SIGKILL')));
  started.clear();
}

export async function pendingIds(relay: RelayProcess): Promise<string[]> {
  const res = await api(relay, '/api/v1/requests?group=pending&limit=100');
  return RequestsPage.parse(await res.json()).items.map((item) => item.id);
}

/** Every request the relay shows, page after page. */
export async function allRequests(relay: RelayProcess): Promise<ConnectionRequest[]> {
  const all: ConnectionRequest[] = [];
  let cursor: string | null = null;
  do {
    const res = await api(relay, `/api/v1/requests?limit=200${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    const page = RequestsPage.parse(await res.json());
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return all;
}

/** The name a relay on PostgreSQL claims replies under (`claimed_by`), from its start-up line. */
export function relayIdOf(relay: RelayProcess): string {
  const line = relay.output.find((l) => l.includes('"store on PostgreSQL"'));
  const relayId = line === undefined ? undefined : (JSON.parse(line) as { relayId?: string }).relayId;
  if (relayId === undefined) throw new Error(`relay at ${relay.url} logged no relay id:\n${relay.output.join('\n')}`);
  return relayId;
}
