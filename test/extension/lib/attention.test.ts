import { describe, expect, it } from 'vitest';
import type { RequestMatch } from '../../../shared/match.js';
import { attention, directoryAsking, displayGroup, waitingForPerson } from '../../../extension/lib/attention.js';
import { MIN, NOW, ago, reply, request } from '../helpers/popup-fixtures.js';

const answered = (result: RequestMatch['result'], note: string | null = null): RequestMatch => ({ result, note, at: ago(MIN) });
/** A pending request that appeared `ms` ago. */
const fresh = (ms: number, over: Parameters<typeof request>[0] = {}) => request({ status: 'Pending', firstSeenAt: ago(ms), lastModified: ago(ms), ...over });

describe('what waits for a person', () => {
  it('a pending request the directory answered about, and left to a person, waits for one', () => {
    for (const result of ['not_found', 'name_mismatch', 'needs_verification', 'unknown', 'member'] as const) {
      expect(attention(fresh(5_000, { match: answered(result) }), true)).toBe('person');
    }
  });

  it('an auto reply on its way (any step of it) is the relay’s business, and stays in Pending', () => {
    for (const state of ['queued', 'exchanging', 'waiting_token'] as const) {
      const r = fresh(MIN, { match: answered('member'), reply: reply('CRSUC', { state, requestedBy: 'auto' }) });
      expect(displayGroup(r)).toBe('pending');
      expect(attention(r, true)).toBe('auto');
    }
  });

  it('a person’s reply on its way moves the request (not pending any more); an auto reply Concur refused is back with a person', () => {
    const clicked = fresh(MIN, { reply: reply('CRSUC', { state: 'exchanging', requestedBy: 'Alice' }) });
    expect(displayGroup(clicked)).toBe('connected');
    expect(attention(clicked, true)).toBeNull();
    const refused = fresh(MIN, { match: answered('member'), reply: reply('CRSUC', { state: 'failed', requestedBy: 'auto' }) });
    expect(attention(refused, true)).toBe('person');
  });

  it('an auto reply Concur took moves the request on before the next poll shows it', () => {
    const r = fresh(MIN, { reply: reply('CRSUC', { state: 'sent', requestedBy: 'auto', updatedAt: ago(1_000) }) });
    expect(displayGroup(r)).toBe('connected');
    expect(attention(r, true)).toBeNull();
  });

  it('on a relay that asks a directory, a pending request with neither an answer nor a reply is the directory’s, however old', () => {
    // The relay asks about every new request and records a result (unknown with a note for a
    // failed call) within its timeout: no grace period, no clock.
    expect(attention(fresh(1_000), true)).toBe('auto');
    expect(directoryAsking(fresh(10 * MIN), true)).toBe(true);
    expect(attention(fresh(10 * MIN), true)).toBe('auto');
    // Its answer, or any reply, ends it.
    expect(directoryAsking(fresh(1_000, { match: answered('unknown', 'timeout after 5 s') }), true)).toBe(false);
    expect(directoryAsking(fresh(1_000, { reply: reply('CREU1', { state: 'failed', requestedBy: 'Alice' }) }), true)).toBe(false);
  });

  it('on a relay without a directory a new request waits for a person at once, whatever other requests show', () => {
    expect(attention(fresh(1_000), false)).toBe('person');
    expect(directoryAsking(fresh(1_000), false)).toBe(false);
    // What used to be taken as a sign of a directory (an answer or an auto reply elsewhere) changes nothing now.
    const signs = [fresh(MIN, { match: answered('member') }), fresh(MIN, { reply: reply('CRSUC', { state: 'queued', requestedBy: 'auto' }) })];
    const newcomer = fresh(1_000);
    expect(waitingForPerson([...signs, newcomer], false)).toContain(newcomer);
  });

  it('failed and connected requests wait for nobody here', () => {
    expect(attention(request({ status: 'CREU1' }), true)).toBeNull();
    expect(attention(request({ status: 'CRSUC' }), true)).toBeNull();
  });

  it('waitingForPerson keeps exactly the ones a person must answer', () => {
    const person = fresh(5_000, { match: answered('not_found') });
    const asking = fresh(1_000);
    const auto = fresh(MIN, { reply: reply('CRSUC', { state: 'queued', requestedBy: 'auto' }) });
    const old = fresh(5 * MIN, { match: answered('unknown', 'answered 401') });
    expect(waitingForPerson([person, asking, auto, old], true)).toEqual([person, old]);
    expect(waitingForPerson([person, asking, auto, old], false)).toEqual([person, asking, old]);
  });
});
