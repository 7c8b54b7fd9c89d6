import { describe, expect, it } from 'vitest';
import type { RequestMatch } from '../../../shared/match.js';
import {
  attention,
  DIRECTORY_GRACE_MS,
  directoryAsking,
  displayGroup,
  usesDirectory,
  waitingForPerson,
} from '../../../extension/lib/attention.js';
import { MIN, NOW, ago, reply, request } from '../helpers/popup-fixtures.js';

const answered = (result: RequestMatch['result'], note: string | null = null): RequestMatch => ({ result, note, at: ago(MIN) });
/** A pending request that appeared `ms` ago. */
const fresh = (ms: number, over: Parameters<typeof request>[0] = {}) => request({ status: 'Pending', firstSeenAt: ago(ms), lastModified: ago(ms), ...over });

describe('what waits for a person', () => {
  it('a pending request the directory answered about, and left to a person, waits for one', () => {
    for (const result of ['not_found', 'name_mismatch', 'needs_verification', 'unknown', 'member'] as const) {
      expect(attention(fresh(5_000, { match: answered(result) }), NOW, true)).toBe('person');
    }
  });

  it('an auto reply on its way (any step of it) is the relay’s business, and stays in Pending', () => {
    for (const state of ['queued', 'exchanging', 'waiting_token'] as const) {
      const r = fresh(MIN, { match: answered('member'), reply: reply('CRSUC', { state, requestedBy: 'auto' }) });
      expect(displayGroup(r)).toBe('pending');
      expect(attention(r, NOW, true)).toBe('auto');
    }
  });

  it('a person’s reply on its way moves the request (not pending any more); an auto reply Concur refused is back with a person', () => {
    const clicked = fresh(MIN, { reply: reply('CRSUC', { state: 'exchanging', requestedBy: 'Alice' }) });
    expect(displayGroup(clicked)).toBe('connected');
    expect(attention(clicked, NOW, true)).toBeNull();
    const refused = fresh(MIN, { match: answered('member'), reply: reply('CRSUC', { state: 'failed', requestedBy: 'auto' }) });
    expect(attention(refused, NOW, true)).toBe('person');
  });

  it('an auto reply Concur took moves the request on before the next poll shows it', () => {
    const r = fresh(MIN, { reply: reply('CRSUC', { state: 'sent', requestedBy: 'auto', updatedAt: ago(1_000) }) });
    expect(displayGroup(r)).toBe('connected');
    expect(attention(r, NOW, true)).toBeNull();
  });

  it('a new request without an answer is the directory’s for the grace, then a person’s', () => {
    expect(attention(fresh(1_000), NOW, true)).toBe('auto');
    expect(directoryAsking(fresh(DIRECTORY_GRACE_MS - 1), NOW, true)).toBe(true);
    expect(attention(fresh(DIRECTORY_GRACE_MS), NOW, true)).toBe('person');
    expect(attention(fresh(10 * MIN), NOW, true)).toBe('person');
  });

  it('without a directory (none seen on this relay) nothing is given time: a new request waits for a person at once', () => {
    expect(attention(fresh(1_000), NOW, false)).toBe('person');
    expect(directoryAsking(fresh(1_000), NOW, false)).toBe(false);
  });

  it('failed and connected requests wait for nobody here', () => {
    expect(attention(request({ status: 'CREU1' }), NOW, true)).toBeNull();
    expect(attention(request({ status: 'CRSUC' }), NOW, true)).toBeNull();
  });

  it('waitingForPerson keeps exactly the ones a person must answer', () => {
    const person = fresh(5_000, { match: answered('not_found') });
    const asking = fresh(1_000);
    const auto = fresh(MIN, { reply: reply('CRSUC', { state: 'queued', requestedBy: 'auto' }) });
    const old = fresh(5 * MIN);
    expect(waitingForPerson([person, asking, auto, old], NOW, true)).toEqual([person, old]);
    expect(waitingForPerson([person, asking, auto, old], NOW, false)).toEqual([person, asking, old]);
  });
});

describe('usesDirectory', () => {
  it('is seen in an answer on a request or in an auto reply, and not otherwise', () => {
    expect(usesDirectory([request(), request({ reply: reply('CRSUC', { requestedBy: 'Alice' }) })])).toBe(false);
    expect(usesDirectory([request(), request({ match: answered('unknown', 'timeout after 5 s') })])).toBe(true);
    expect(usesDirectory([request({ status: 'CRSUC', reply: reply('CRSUC', { state: 'sent', requestedBy: 'auto' }) })])).toBe(true);
    expect(usesDirectory([])).toBe(false);
  });
});
