import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type RunningSandbox } from '../../relay/sandbox/server.js';
import { concurEnv, eventually, readDb as read, startRelayProcess, tempDb, type RelayProcess } from '../helpers/relay-process.js';
import { isExchangeCall, VERSIONS, type VersionCase } from '../relay/helpers.js';
import { DIRECTORY_SECRET, TestDirectory } from '../relay/match/helpers.js';

/**
 * Issue 15: the relay SIGKILLed after the member directory answered "member" and before the
 * answer (and the CRSUC it brings) was stored. What is still to be asked lives in the database,
 * so after a restart the relay asks again and connects: exactly one exchange, which succeeded,
 * and one CRSUC at Concur.
 *
 * The directory (in this process) makes the moment exact: on the first question it stops the
 * relay (SIGSTOP), writes its whole answer, and kills it (SIGKILL) — the answer is on the wire,
 * the relay never reads it. In API 3.0 (the legacy exchange) and 3.2 (the password grant).
 */

const API_KEY = 'process-auto-connect-key-0123';
let sandbox: RunningSandbox;
let directory: TestDirectory;
const relays: RelayProcess[] = [];

afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop('SIGKILL')));
  await directory.close();
  await sandbox.close();
});

/** A relay process on `db`, with the sandbox as Concur in `v`'s version. */
async function start(db: string, v: VersionCase): Promise<RelayProcess> {
  const relay = await startRelayProcess({
    ...concurEnv(sandbox, v.version),
    RELAY_API_KEYS: API_KEY,
    RELAY_DB: db,
    POLL_INTERVAL_SECONDS: '1',
    RELAY_MATCH_URL: directory.url,
    RELAY_MATCH_SECRET: DIRECTORY_SECRET,
    RELAY_WEBHOOK_ALLOW_PRIVATE: 'true',
  });
  relays.push(relay);
  return relay;
}

describe.each(VERSIONS)('SIGKILL after the directory answered member, before the answer was stored, API $version', (v) => {
  beforeEach(async () => {
    sandbox = await startSandbox({ seed: false, random: 41, ...v.sandbox });
    directory = await new TestDirectory().start();
  });

  it('after a restart the request is connected exactly once: one exchange that succeeded, one CRSUC', async () => {
    const { id } = sandbox.state.add();
    const db = tempDb();
    // Set before the relay starts: it may ask as soon as it is up.
    let first: RelayProcess | undefined;
    let killed = false;
    directory.answer = async (question) => {
      const answer = { result: 'member' as const, memberId: `M-${question.data.requestId}` };
      if (killed) return answer;
      killed = true;
      // Stopped, it cannot read the answer written below; killed, it never will.
      await eventually(() => first);
      first!.proc.kill('SIGSTOP');
      return { answer, delayMs: 50 };
    };
    first = await start(db, v);
    await eventually(() => directory.calls.length === 1, 15_000);
    // The answer is written (after its delay) while the relay is stopped; then it dies.
    await new Promise((resolve) => setTimeout(resolve, 200));
    first.proc.kill('SIGKILL');
    expect(await first.exited).toBeNull();

    // The relay kept only that the directory is to be asked.
    expect(read(db, 'SELECT state, attempts, result FROM matches')).toEqual([{ state: 'due', attempts: 0, result: null }]);
    expect(read(db, 'SELECT id FROM replies')).toEqual([]);
    expect(sandbox.calls.list().filter((c) => isExchangeCall(c) || c.route === 'put')).toEqual([]);

    const second = await start(db, v);
    await eventually(() => read<{ state: string }>(db, 'SELECT state FROM replies')[0]?.state === 'sent', 20_000);
    expect(directory.questionsAbout(id)).toHaveLength(2);
    expect(sandbox.calls.list().filter(isExchangeCall).map((c) => c.status)).toEqual([200]);
    expect(sandbox.calls.list().filter((c) => c.route === 'put').map((c) => `${c.putStatus} ${c.status}`)).toEqual(['CRSUC 204']);
    expect(sandbox.state.get(id)).toMatchObject({ status: 'Connected', successfulPuts: 1 });
    expect(sandbox.users.all().filter((g) => g.traveller.requestId === id)).toHaveLength(1);
    expect(read(db, 'SELECT status, state, requested_by FROM replies')).toEqual([{ status: 'CRSUC', state: 'sent', requested_by: 'auto' }]);
    expect(read(db, 'SELECT member_id, connected_by FROM connections')).toEqual([{ member_id: `M-${id}`, connected_by: 'auto' }]);

    expect(await second.stop('SIGTERM')).toBe(0);
    const logs = relays.flatMap((r) => r.output).join('\n');
    for (const secret of [sandbox.accessToken, sandbox.clientSecret, DIRECTORY_SECRET, ...sandbox.state.all().map((r) => r.requestToken)]) {
      expect(logs).not.toContain(secret);
    }
    const bodies = directory.calls.map((call) => call.body).join('\n');
    for (const secret of [sandbox.accessToken, sandbox.clientSecret, ...sandbox.state.all().map((r) => r.requestToken)]) {
      expect(bodies).not.toContain(secret);
    }
  }, 60_000);
});
