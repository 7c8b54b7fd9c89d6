import { afterAll, describe, expect, it } from 'vitest';
import { startSandbox, type RunningSandbox } from '../../relay/sandbox/server.js';
import { freshDatabase } from '../helpers/postgres.js';
import { concurEnv, eventually, type RelayProcess } from '../helpers/relay-process.js';
import { api, pendingIds, startRelays } from '../helpers/many-relays.js';

/**
 * Replies spread over three relay processes on one PostgreSQL database while the sandbox answers
 * 30 % of PUTs with 503 and one relay is SIGKILLed on the way (issue 18): each relay's outbox
 * claims replies, so every request gets exactly one accepted PUT, counted at the sandbox, and none
 * is lost.
 */

const REQUESTS = 30;
let sandbox: RunningSandbox | undefined;
let relays: RelayProcess[] = [];

afterAll(async () => {
  await Promise.all(relays.map((relay) => relay.stop('SIGKILL')));
  await sandbox?.close();
});

describe('replies over three relays on one PostgreSQL database', () => {
  it('every reply is PUT exactly once, through 503s and a SIGKILLed relay', async () => {
    const url = await freshDatabase();
    const concur = await startSandbox({ seed: false, random: 11 });
    sandbox = concur;
    for (let i = 0; i < REQUESTS; i++) concur.state.add();
    // CONCUR_TIMEOUT_SECONDS=1: a dead relay's claims lapse after replyLeaseMs(1 s), 10 s.
    const env = { ...concurEnv(concur, '3.0'), RELAY_API_KEYS: 'many-relays-key-0123456789', RELAY_DB: url, POLL_INTERVAL_SECONDS: '1', CONCUR_TIMEOUT_SECONDS: '1' };
    relays = await startRelays(3, env);
    await eventually(async () => (await pendingIds(relays[0]!)).length === REQUESTS, 30_000);
    const ids = concur.state.all().map((request) => request.id);
    concur.faults.add({ route: 'put', kind: 'status503', ratio: 0.3 });

    for (const [index, id] of ids.entries()) {
      const res = await api(relays[index % 3]!, `/api/v1/requests/${id}/reply`, { method: 'POST', body: JSON.stringify({ status: 'CREU1' }) });
      expect(res.status).toBe(202);
    }
    const puts = () => concur.calls.list().filter((call) => call.route === 'put');
    await eventually(() => puts().length >= 5, 30_000);
    // One relay dies with replies it accepted and claims it holds.
    const [dead, ...alive] = relays as [RelayProcess, ...RelayProcess[]];
    await dead.stop('SIGKILL');
    relays = alive;

    const accepted = (id: string) => puts().filter((call) => call.status === 204 && call.path.endsWith(`/${id}`)).length;
    await eventually(() => ids.every((id) => accepted(id) >= 1), 90_000);
    expect(puts().some((call) => call.status === 503)).toBe(true);
    expect(ids.map(accepted)).toEqual(ids.map(() => 1));
    for (const id of ids) expect(concur.state.get(id)!.status).not.toBe('Pending');
    // The relays agree: every reply is sent.
    const states = await Promise.all(ids.map(async (id) => ((await (await api(alive[0]!, `/api/v1/requests/${id}`)).json()) as { reply?: { state: string } }).reply?.state));
    expect(states).toEqual(ids.map(() => 'sent'));
  }, 150_000);
});
