import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppliedReply } from '../../relay/sandbox/context.js';
import { startSandbox, type RunningSandbox } from '../../relay/sandbox/server.js';
import type { ApiVersion, ReplyCode } from '../../shared/status.js';
import { concurEnv, eventually, startRelayProcess, tempDb, type RelayProcess } from '../helpers/relay-process.js';
import { VERSIONS, type VersionCase } from '../relay/helpers.js';

/**
 * Issue 11, finding 2: a reply must reach Concur once, even when the relay is SIGKILLed after
 * Concur applied its PUT and before the 204 reached it. The sandbox (in this process) accepts a
 * repeated reply, as a real Concur might, so a second PUT would show as a second accepted PUT
 * (for CREU* a second e-mail to the traveller; for CRRET a retry used up). In API 3.0 and 3.2,
 * where a CRRET or a CREU* pops the request from Concur's queue and a PUT on a popped request is
 * refused.
 */

const API_KEY = 'process-test-key-in-doubt-0123';
const REPLIES = 140;
const CODES: readonly ReplyCode[] = ['CRSUC', 'CREU1', 'CRRET', 'CREU2', 'CRPA1', 'CREU3', 'CRPA2'];
/**
 * Where the five kills fall: the first PUT Concur applies, once `after` PUTs were applied, whose
 * code is one of `codes` (so every kind of reply is caught in doubt at least once), or any code
 * 25 PUTs later, so that the plan cannot stall.
 */
const KILLS: ReadonlyArray<{ after: number; codes: readonly ReplyCode[] }> = [
  { after: 5, codes: ['CRSUC'] },
  { after: 20, codes: ['CRRET'] },
  { after: 35, codes: ['CREU1', 'CREU2', 'CREU3'] },
  { after: 50, codes: ['CRPA1', 'CRPA2'] },
  { after: 65, codes: ['CRRET'] },
];

const WAITING = ['Pending', 'Processing'];
/**
 * What Concur shows once a reply was applied: 3.0 fails a request on a CREU*; 3.2 pops it for a
 * day (then back in the queue, Pending), as it pops a CRRET's for an hour. A request that waits
 * again is Pending, or Processing once a GET handed its new token out (seed, Example 4).
 */
const SHOWN_AFTER: Record<ApiVersion, Record<'CRSUC' | 'CRRET' | 'CREU' | 'CRPA', readonly string[]>> = {
  '3.0': { CRSUC: ['Connected'], CRRET: WAITING, CREU: ['Failed'], CRPA: ['Failed'] },
  '3.2': { CRSUC: ['Connected'], CRRET: WAITING, CREU: WAITING, CRPA: ['Failed'] },
};
const family = (code: ReplyCode) => (code.startsWith('CREU') ? 'CREU' : code.startsWith('CRPA') ? 'CRPA' : (code as 'CRSUC' | 'CRRET'));

let sandbox: RunningSandbox;
const relays: RelayProcess[] = [];

afterEach(async () => {
  sandbox.hooks.onReplyApplied = undefined;
  await Promise.all(relays.splice(0).map((r) => r.stop('SIGKILL')));
  await sandbox.close();
});

/** A relay process on `db`, with the sandbox as Concur in `v`'s version. */
async function start(db: string, v: VersionCase): Promise<RelayProcess> {
  const relay = await startRelayProcess({
    ...concurEnv(sandbox, v.version),
    RELAY_API_KEYS: API_KEY,
    RELAY_DB: db,
    POLL_INTERVAL_SECONDS: '1',
    LOG_LEVEL: 'info',
  });
  relays.push(relay);
  return relay;
}

function replyStates(db: string): Map<string, { status: string; state: string }> {
  const sqlite = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const rows = sqlite.prepare('SELECT request_id, status, state FROM replies ORDER BY id').all() as Array<{
      request_id: string;
      status: string;
      state: string;
    }>;
    return new Map(rows.map((row) => [row.request_id, { status: row.status, state: row.state }]));
  } finally {
    sqlite.close();
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe.each(VERSIONS)('replies in doubt across SIGKILLs, API $version', (v) => {
  beforeEach(async () => {
    // Tokens live as long as the relay takes them to: the clock moves on by hours below (3.2).
    sandbox = await startSandbox({ seed: false, random: 29, ...v.sandbox, quirks: { repeatReplies: 'accept', ...v.tokenLifetimeQuirk } });
  });

  it(`${REPLIES} replies, 5 SIGKILLs between Concur's 204 and the relay hearing it, 30 % of PUTs answered 503: each reply applied once`, async () => {
    const started = Date.now();
    // The version's ids (3.2: GUIDs), in the queue's order.
    const ids = Array.from({ length: REPLIES }, () => sandbox.state.add().id);
    const codeOf = new Map(ids.map((id, i) => [id, CODES[i % CODES.length]!]));

    const db = tempDb();
    let current: RelayProcess | null = await start(db, v);
    await eventually(async () => {
      const res = await fetch(`${current!.url}/api/v1/summary`, { headers: { authorization: `Bearer ${API_KEY}` } });
      return ((await res.json()) as { counts: { pending: number } }).counts.pending === REPLIES;
    }, 20_000);
    sandbox.faults.add({ route: 'put', kind: 'status503', ratio: 0.3 });

    let applied = 0;
    const killed: AppliedReply[] = [];
    sandbox.hooks.onReplyApplied = async (reply) => {
      applied++;
      // A CRSUC that went the CRRET way waits for the request's next token: at once (3.0), or once 3.2's queue gives it back.
      if (reply.status === 'CRRET' && codeOf.get(reply.requestId) === 'CRSUC') sandbox.clock.advance(v.crretAwayMs);
      const next = KILLS[killed.length];
      const relay = current;
      if (relay === null || next === undefined || applied < next.after) return;
      if (!next.codes.includes(reply.status) && applied < next.after + 25) return;
      current = null;
      killed.push(reply);
      // Concur has applied the reply; its 204 is written only after the relay is dead.
      relay.proc.kill('SIGKILL');
      await relay.exited;
    };

    let done = false;
    const supervisor = (async () => {
      for (;;) {
        await relays.at(-1)!.exited;
        if (done) return;
        current = await start(db, v);
      }
    })();

    // Each reply is accepted once: an Idempotency-Key makes a resubmission after a kill harmless.
    for (const id of ids) {
      for (;;) {
        const relay = current;
        if (relay !== null) {
          const res = await fetch(`${relay.url}/api/v1/requests/${id}/reply`, {
            method: 'POST',
            headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', 'idempotency-key': `reply-${id}` },
            body: JSON.stringify({ status: codeOf.get(id) }),
          }).catch(() => null);
          if (res !== null) {
            const text = await res.text();
            if (res.status === 202) break;
            throw new Error(`the relay answered ${res.status} to a reply: ${text}`);
          }
        }
        await sleep(50);
      }
    }

    await eventually(() => {
      const states = replyStates(db);
      return states.size === REPLIES && [...states.values()].every((r) => r.state === 'sent');
    }, 90_000);
    done = true;
    const last = current as RelayProcess | null;
    expect(last).not.toBeNull();
    expect(await last!.stop('SIGTERM')).toBe(0);
    await supervisor;

    const calls = sandbox.calls.list();
    const puts = calls.filter((c) => c.route === 'put');
    const figures = {
      seconds: Math.round((Date.now() - started) / 100) / 10,
      relayStarts: relays.length,
      puts: puts.length,
      put503: puts.filter((c) => c.status === 503).length,
      readBacks: calls.filter((c) => c.route === 'get').length,
      killedOn: killed.map((k) => k.status).join(' '),
    };
    console.info(`reply-in-doubt process test: ${JSON.stringify(figures)}`);

    expect(killed).toHaveLength(KILLS.length);
    // Both kinds of evidence were exercised: a status Concur shows, and a CRRET's new request token.
    expect(killed.some((k) => k.status === 'CRRET')).toBe(true);
    expect(killed.some((k) => k.status !== 'CRRET')).toBe(true);
    expect(figures.put503 / figures.puts).toBeGreaterThan(0.25);
    const states = replyStates(db);
    // Every reply accepted with 202 ends sent, and Concur accepted exactly one PUT for it: for
    // CREU* a second would be a second e-mail, for CRRET a second retry used up.
    const wrong: string[] = [];
    for (const id of ids) {
      const code = codeOf.get(id)!;
      const reply = states.get(id);
      const request = sandbox.state.get(id)!;
      const expected = SHOWN_AFTER[v.version][family(code)];
      if (reply?.status !== code || reply.state !== 'sent') wrong.push(`${id} ${code}: the relay has ${JSON.stringify(reply)}`);
      // A CRSUC whose exchange a kill cut short (its answer never stored) goes by way of a CRRET,
      // which uses a retry: every PUT Concur accepted beyond the one CRSUC is such a CRRET.
      const expectedPuts = code === 'CRSUC' ? 1 + request.retries : 1;
      if (request.successfulPuts !== expectedPuts) wrong.push(`${id} ${code}: Concur accepted ${request.successfulPuts} PUTs (${request.retries} retries)`);
      if (!expected.includes(request.status)) wrong.push(`${id} ${code}: Concur shows ${request.status}`);
      if (code === 'CRRET' && request.retries !== 1) wrong.push(`${id} CRRET: ${request.retries} retries used`);
    }
    expect(wrong).toEqual([]);

    // Read-backs carry request tokens: none reached a log line.
    const logs = relays.flatMap((r) => r.output).join('\n');
    for (const secret of [sandbox.accessToken, sandbox.clientSecret, API_KEY, ...sandbox.state.all().map((r) => r.requestToken)]) {
      expect(logs).not.toContain(secret);
    }
  }, 120_000);
});
