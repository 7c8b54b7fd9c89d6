import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../relay/base/config.js';
import { createLogger } from '../../../relay/base/log.js';
import { autoConnectOf } from '../../../relay/boot/matching.js';
import { startRelay } from '../../../relay/boot/runtime.js';
import type { MatchResult } from '../../../shared/match.js';
import { Summary } from '../../../shared/models.js';
import { eventually, tempDb } from '../../helpers/relay-process.js';
import { TEST_VAULT_KEY } from '../../helpers/vault.js';
import { DIRECTORY_SECRET } from '../match/helpers.js';
import { api, API_KEY, exchangesAt, putsAt, requestOf, stackPerTest, startStack, untilRequest } from './matching-stack.js';

/**
 * Auto-connect through the whole relay (matching.ts wires it): the sandbox as Concur, a real
 * member directory on loopback, the relay from its environment. A member is connected by itself
 * (exchange, stored tokens, CRSUC) as `auto`, with the directory's member id on the connection;
 * the other answers wait for a person under `connect` and are answered CREU1–3 under `all`.
 * Calls without a verdict, and a person's reply racing the directory: matching-failures.test.ts.
 */

stackPerTest();

const ANSWERS: Record<string, MatchResult> = {
  'AC-MEMBER': 'member',
  'AC-NOTFOUND': 'not_found',
  'AC-MISMATCH': 'name_mismatch',
  'AC-VERIFY': 'needs_verification',
  'AC-UNKNOWN': 'unknown',
};
const IDS = Object.keys(ANSWERS);
const answerById = (q: { data: { requestId: string } }) => {
  const result = ANSWERS[q.data.requestId]!;
  return { result, note: `directory says ${result}`, ...(result === 'member' ? { memberId: `M-${q.data.requestId}` } : {}) };
};

describe('a member', () => {
  it('is connected by itself: one exchange, the tokens stored with the member id, CRSUC as auto, audited as auto', async () => {
    const { sb, relay, directory } = await startStack({ ids: ['AC-MEMBER'], answer: answerById });
    const connected = await untilRequest(relay, 'AC-MEMBER', (r) => r.reply?.state === 'sent');
    expect(connected).toMatchObject({
      group: 'connected',
      match: { result: 'member', note: 'directory says member' },
      reply: { status: 'CRSUC', state: 'sent', requestedBy: 'auto', attempts: 1 },
    });
    const connection = relay.store.connections.byRequest('AC-MEMBER');
    expect(connection).toMatchObject({ memberId: 'M-AC-MEMBER', connectedBy: 'auto', state: 'active' });
    expect(connected.connectionId).toBe(connection!.id);
    const res = await api(relay, `/api/v1/connections/${connection!.id}`);
    expect(await res.json()).toMatchObject({ memberId: 'M-AC-MEMBER', connectedBy: 'auto' });
    expect(exchangesAt(sb)).toEqual([200]);
    expect(putsAt(sb, 'AC-MEMBER')).toEqual(['CRSUC 204']);
    expect(directory.calls).toHaveLength(1);
    expect(directory.calls[0]).toMatchObject({ signed: true, question: { data: { requestId: 'AC-MEMBER', emailAddresses: [] } } });
    const audit = (await (await api(relay, '/api/v1/audit')).json()) as { items: Array<{ actor: { name: string }; action: string; target: string }> };
    expect(audit.items).toContainEqual(expect.objectContaining({ actor: { keyId: null, name: 'auto' }, action: 'reply.requested', target: 'AC-MEMBER' }));
  });
});

describe('each answer', () => {
  it('under connect: only the member is answered; the others wait for a person with the answer shown', async () => {
    const { sb, relay, directory } = await startStack({ ids: IDS, answer: answerById, env: { RELAY_AUTO_REPLY: 'connect' } });
    await untilRequest(relay, 'AC-MEMBER', (r) => r.reply?.state === 'sent');
    // unknown is asked twice more; then nothing is left to ask.
    await eventually(() => directory.calls.length === IDS.length + 2 && relay.store.matches.nextDueAt() === null);
    for (const id of IDS.filter((id) => id !== 'AC-MEMBER')) {
      const request = await requestOf(relay, id);
      expect(request, id).toMatchObject({ group: 'pending', reply: null, match: { result: ANSWERS[id], note: `directory says ${ANSWERS[id]}` } });
      expect(putsAt(sb, id), id).toEqual([]);
    }
    expect(directory.questionsAbout('AC-UNKNOWN')).toHaveLength(3);
  });

  it('under all: CREU1, CREU2 and CREU3 go to Concur as auto; unknown still waits for a person', async () => {
    const { sb, relay } = await startStack({ ids: IDS, answer: answerById, env: { RELAY_AUTO_REPLY: 'all' } });
    const sent: Record<string, string> = { 'AC-MEMBER': 'CRSUC', 'AC-NOTFOUND': 'CREU1', 'AC-MISMATCH': 'CREU2', 'AC-VERIFY': 'CREU3' };
    for (const [id, status] of Object.entries(sent)) {
      const request = await untilRequest(relay, id, (r) => r.reply?.state === 'sent');
      expect(request.reply, id).toMatchObject({ status, requestedBy: 'auto' });
      expect(putsAt(sb, id), id).toEqual([`${status} 204`]);
    }
    expect(exchangesAt(sb)).toEqual([200]);
    await eventually(() => relay.store.matches.nextDueAt() === null);
    expect(await requestOf(relay, 'AC-UNKNOWN')).toMatchObject({ reply: null, match: { result: 'unknown' } });
    expect(putsAt(sb, 'AC-UNKNOWN')).toEqual([]);
  });

  it('under off: every answer is shown, nothing is sent', async () => {
    const { sb, relay, directory } = await startStack({ ids: ['AC-MEMBER', 'AC-NOTFOUND'], answer: answerById, env: { RELAY_AUTO_REPLY: 'off' } });
    await eventually(() => directory.calls.length === 2);
    await untilRequest(relay, 'AC-NOTFOUND', (r) => r.match !== null);
    expect(await requestOf(relay, 'AC-MEMBER')).toMatchObject({ reply: null, match: { result: 'member' } });
    expect(sb.calls.list().filter((call) => call.route === 'put' || call.route === 'exchange')).toEqual([]);
  });
});

describe("the summary's autoConnect", () => {
  it('says at start that the directory is asked, and the RELAY_AUTO_REPLY in force, announced by a summary event', async () => {
    const { relay } = await startStack({ ids: ['AC-MEMBER'], answer: answerById, env: { RELAY_AUTO_REPLY: 'all' } });
    const summary = Summary.parse(await (await api(relay, '/api/v1/summary')).json());
    expect(summary.autoConnect).toEqual({ policy: 'all', directory: true });
    const announced = relay.store.events.after(0, 1000).find((e) => e.type === 'summary');
    expect(announced?.type === 'summary' && announced.data.autoConnect).toEqual({ policy: 'all', directory: true });
  });

  it('follows the configuration: a directory under off is still asked; no directory, nothing asked', () => {
    const configOf = (env: Record<string, string>) => {
      const parsed = parseConfig({ RELAY_DB: tempDb(), ...env });
      if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
      return parsed.config;
    };
    const worker = {} as Parameters<typeof autoConnectOf>[1];
    const concur = { CONCUR_BASE_URL: 'https://concur.example', CONCUR_ACCESS_TOKEN: 'token', RELAY_API_KEYS: API_KEY, RELAY_VAULT_KEY: TEST_VAULT_KEY };
    const directory = { RELAY_MATCH_URL: 'https://members.example/match', RELAY_MATCH_SECRET: DIRECTORY_SECRET };
    expect(autoConnectOf(configOf({ ...concur, ...directory }), worker)).toEqual({ policy: 'connect', directory: true });
    expect(autoConnectOf(configOf({ ...concur, ...directory, RELAY_AUTO_REPLY: 'off' }), worker)).toEqual({ policy: 'off', directory: true });
    expect(autoConnectOf(configOf(concur), null)).toEqual({ policy: 'off', directory: false });
    // Sandbox mode asks its demo directory.
    expect(autoConnectOf(configOf({}), worker)).toEqual({ policy: 'connect', directory: true });
    // No worker made (createMatcher found no directory to ask): nothing is asked, whatever the variables say.
    expect(autoConnectOf(configOf({}), null)).toEqual({ policy: 'off', directory: false });
  });
});

describe('/metrics', () => {
  it('counts directory calls by result with their latency, and auto replies by status', async () => {
    const { relay } = await startStack({ ids: ['AC-MEMBER', 'AC-NOTFOUND'], answer: answerById, env: { RELAY_AUTO_REPLY: 'all' } });
    await untilRequest(relay, 'AC-MEMBER', (r) => r.reply?.state === 'sent');
    await untilRequest(relay, 'AC-NOTFOUND', (r) => r.reply?.state === 'sent');
    const text = await (await fetch(`${relay.url}/metrics`)).text();
    expect(text).toMatch(/^triplink_directory_call_duration_seconds_count\{result="member"\} 1$/m);
    expect(text).toMatch(/^triplink_directory_call_duration_seconds_count\{result="not_found"\} 1$/m);
    expect(text).toMatch(/^triplink_directory_call_duration_seconds_bucket\{le="0\.1",result="member"\} 1$/m);
    expect(text).toMatch(/^triplink_auto_replies_total\{status="CRSUC"\} 1$/m);
    expect(text).toMatch(/^triplink_auto_replies_total\{status="CREU1"\} 1$/m);
  });
});

describe('sandbox mode without RELAY_MATCH_URL', () => {
  it("asks the sandbox's demo directory, signed: members connected by themselves, the others waiting with its reason", async () => {
    const parsed = parseConfig({ RELAY_DB: tempDb(), RELAY_PORT: '0', SANDBOX_DEMO_EVERY_SECONDS: '0', POLL_INTERVAL_SECONDS: '1' });
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const relay = await startRelay(parsed.config, { logger: createLogger({ level: 'silent' }), matchRetryDelaysMs: [100, 100] });
    try {
      const sandbox = relay.sandbox!;
      expect(relay.store.state.summary().autoConnect).toEqual({ policy: 'connect', directory: true });
      const seeded = sandbox.state.all().length;
      expect(seeded).toBeGreaterThanOrEqual(10);
      // Every seeded request asked about, and the members connected, within seconds.
      const results = await eventually(
        () => {
          const requests = sandbox.state.all().map((r) => relay.store.requests.get(r.id));
          if (requests.some((r) => r?.match == null)) return false;
          const members = requests.filter((r) => r!.match!.result === 'member');
          return members.every((r) => r!.reply?.state === 'sent') && requests.map((r) => r!.match!.result);
        },
        20_000,
      );
      expect(new Set(results)).toEqual(new Set(['member', 'not_found', 'name_mismatch', 'needs_verification', 'unknown']));
      const calls = sandbox.directory.calls();
      expect(calls.every((call) => call.signature === 'ok')).toBe(true);
      for (const request of relay.store.requests.list({ limit: 200 }).items) {
        if (request.match?.result !== 'member') expect(request.reply, request.id).toBeNull();
        else expect(request.reply, request.id).toMatchObject({ status: 'CRSUC', requestedBy: 'auto' });
      }
    } finally {
      await relay.close();
    }
  });
});
