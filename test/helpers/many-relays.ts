import { RequestsPage } from '../../shared/models.js';
import { startRelayProcess, type RelayProcess } from './relay-process.js';

/** Several relay processes on one database (test/process/many-relays*.test.ts). */

export const API_KEY = 'many-relays-key-0123456789';

export const api = (relay: RelayProcess, path: string, init: RequestInit = {}) =>
  fetch(`${relay.url}${path}`, { ...init, headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...init.headers } });

/** `count` relays with `env`: the first alone (it migrates the database), the others side by side. */
export async function startRelays(count: number, env: Record<string, string>): Promise<RelayProcess[]> {
  const relays = [await startRelayProcess(env, 30_000)];
  relays.push(...(await Promise.all(Array.from({ length: count - 1 }, () => startRelayProcess(env, 30_000)))));
  return relays;
}

export async function pendingIds(relay: RelayProcess): Promise<string[]> {
  const res = await api(relay, '/api/v1/requests?group=pending&limit=100');
  return RequestsPage.parse(await res.json()).items.map((item) => item.id);
}
