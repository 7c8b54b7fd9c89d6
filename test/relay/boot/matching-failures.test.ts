import { describe, expect, it } from 'vitest';
import { eventually } from '../../helpers/relay-process.js';
import { sleep } from '../helpers.js';
import type { DirectoryReply } from '../match/helpers.js';
import { api, exchangesAt, putsAt, requestOf, stackPerTest, startStack, untilRequest } from './matching-stack.js';

/**
 * Auto-connect through the whole relay when the directory gives no verdict — a timeout, a 500,
 * malformed JSON, a signature it refuses — and when a person answers first. Each call without a
 * verdict leaves the request to a person with the reason in `match`, and is made at most twice
 * more; nothing is ever sent for it.
 */

stackPerTest();

const ID = 'AC-1';

/** Starts the stack with one request and a directory that always answers `reply`; waits until nothing is left to ask. */
async function noVerdict(reply: DirectoryReply, options: { directorySecret?: string; timeout?: string } = {}) {
  const stack = await startStack({
    ids: [ID],
    answer: () => reply,
    directorySecret: options.directorySecret,
    env: { RELAY_MATCH_TIMEOUT_SECONDS: options.timeout ?? '5' },
  });
  await eventually(() => stack.directory.calls.length === 3 && stack.relay.store.matches.nextDueAt() === null, 10_000);
  // Nothing more comes: the retries were the last.
  await sleep(500);
  expect(stack.directory.calls).toHaveLength(3);
  const request = await requestOf(stack.relay, ID);
  expect(request).toMatchObject({ group: 'pending', reply: null, match: { result: 'unknown' } });
  expect(putsAt(stack.sb, ID)).toEqual([]);
  expect(exchangesAt(stack.sb)).toEqual([]);
  return { ...stack, note: request.match!.note };
}

describe('no verdict: left to a person with the reason, asked at most twice more', () => {
  it('a timeout', async () => {
    const { note } = await noVerdict('hang', { timeout: '0.2' });
    expect(note).toBe('the member directory did not answer within 0.2 s');
  });

  it('a 500', async () => {
    const { note } = await noVerdict({ status: 500, body: '{"error":"down"}' });
    expect(note).toContain('answered 500');
  });

  it('malformed JSON', async () => {
    const { note } = await noVerdict({ status: 200, body: '{"result": "member", ' });
    expect(note).toContain('not with JSON');
  });

  it('an answer that is not a match answer', async () => {
    const { note } = await noVerdict({ status: 200, body: '{"result":"yes"}' });
    expect(note).toMatch(/not a match answer: result/);
  });

  it('a signature the directory refuses (it holds another secret)', async () => {
    const other = `whsec_${Buffer.from('the directory has another secret!!!!').toString('base64')}`;
    const { directory, note } = await noVerdict({ result: 'member' }, { directorySecret: other });
    expect(directory.calls.every((call) => !call.signed)).toBe(true);
    expect(note).toContain('answered 401');
    expect(note).toContain('RELAY_MATCH_SECRET');
  });

  it('a directory that comes back within the retries connects after all', async () => {
    let calls = 0;
    const { sb, relay } = await startStack({
      ids: [ID],
      answer: () => (++calls === 1 ? { status: 503, body: '' } : { result: 'member', memberId: 'M-1' }),
    });
    const connected = await untilRequest(relay, ID, (r) => r.reply?.state === 'sent');
    expect(connected).toMatchObject({ match: { result: 'member' }, reply: { status: 'CRSUC', requestedBy: 'auto' } });
    expect(putsAt(sb, ID)).toEqual(['CRSUC 204']);
    expect(calls).toBe(2);
  });
});

describe("a person's reply", () => {
  it('wins over a late directory answer: the answer is shown, nothing else is sent', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const { sb, relay, directory } = await startStack({
      ids: [ID],
      answer: async () => {
        await released;
        return { result: 'member', memberId: 'M-LATE' };
      },
    });
    await eventually(() => directory.calls.length === 1);
    const click = await api(relay, `/api/v1/requests/${ID}/reply`, { method: 'POST', body: JSON.stringify({ status: 'CREU2' }) });
    expect(click.status).toBe(202);
    release();
    await untilRequest(relay, ID, (r) => r.match?.result === 'member');
    const request = await untilRequest(relay, ID, (r) => r.reply?.state === 'sent');
    expect(request.reply).toMatchObject({ status: 'CREU2', requestedBy: 'env key 1' });
    await sleep(300);
    expect(putsAt(sb, ID)).toEqual(['CREU2 204']);
    expect(exchangesAt(sb)).toEqual([]);
    expect(directory.calls).toHaveLength(1);
  });
});
