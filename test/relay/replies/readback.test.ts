import { describe, expect, it } from 'vitest';
import { ConcurError } from '../../../relay/concur/errors.js';
import { judgeReadBack, leavesDoubt } from '../../../relay/replies/readback.js';
import { requestTokenSha256, type OutboxReply } from '../../../relay/store/index.js';
import type { ReplyCode } from '../../../shared/status.js';
import { record } from '../store/helpers.js';
import { VERSIONS } from './versions.js';

/** What a read-back proves, and which failed PUTs leave a reply in doubt: the rules on their own. */

const T = '2024-05-01T10:00:00.000Z';
function inDoubt(status: ReplyCode, evidence: { token?: string | null; lastModified?: string | null } = {}): OutboxReply {
  const token = evidence.token === undefined ? 'token-before' : evidence.token;
  return {
    id: 1,
    requestId: 'R',
    status,
    state: 'queued',
    attempts: 0,
    lastError: null,
    nextAttemptAt: T,
    createdAt: T,
    updatedAt: T,
    requestedBy: null,
    requestedStatus: status,
    exchanged: status === 'CRSUC',
    tokenIssuedAt: null,
    exchangeAttempts: 0,
    inDoubt: {
      startedAt: T,
      tokenSha256: token === null ? null : requestTokenSha256(token),
      lastModified: evidence.lastModified === undefined ? '2024-05-01T09:00:00.000Z' : evidence.lastModified,
    },
  };
}

describe('judgeReadBack', () => {
  it.each([
    ['CRSUC', 'Connected', 'applied'],
    ['CRSUC', 'CRSUC', 'applied'],
    ['CRSUC', 'Pending', 'not_applied'],
    ['CRSUC', 'Processing', 'not_applied'],
    ['CRSUC', 'Failed', 'not_applied'],
    ['CREU1', 'Failed', 'applied'],
    ['CREU2', 'CREU2', 'applied'],
    ['CREU3', 'Connected', 'not_applied'],
    ['CRPA1', 'Failed', 'applied'],
    ['CRPA2', 'Pending', 'not_applied'],
  ] as const)('%s, Concur shows %s → %s', (code, shown, verdict) => {
    expect(judgeReadBack(inDoubt(code), record('R', { status: shown })).kind).toBe(verdict);
  });

  it('CRRET: a new request token proves it applied, whatever LastModified says (it has whole seconds only)', () => {
    const shown = record('R', { requestToken: 'token-after', lastModified: '2024-05-01T09:00:00Z' });
    expect(judgeReadBack(inDoubt('CRRET'), shown)).toEqual({ kind: 'applied', evidence: 'Concur shows a new request token' });
  });

  it('CRRET: the same token and LastModified → not applied, with what Concur showed as the next attempt’s evidence', () => {
    const shown = record('R', { requestToken: 'token-before', lastModified: '2024-05-01T09:00:00Z' });
    expect(judgeReadBack(inDoubt('CRRET'), shown)).toEqual({
      kind: 'not_applied',
      seen: { requestToken: 'token-before', lastModified: '2024-05-01T09:00:00Z' },
    });
  });

  it('CRRET: a later LastModified proves it applied when there is no token to compare; the sixth CRRET shows Failed', () => {
    const later = { requestToken: null, lastModified: '2024-05-01T09:00:01Z' };
    expect(judgeReadBack(inDoubt('CRRET'), record('R', later)).kind).toBe('applied');
    expect(judgeReadBack(inDoubt('CRRET', { token: null }), record('R', { ...later, requestToken: 'x' })).kind).toBe('applied');
    expect(judgeReadBack(inDoubt('CRRET'), record('R', { ...later, status: 'Failed' })).kind).toBe('applied');
  });

  it('CRRET/CREU: a new token the relay’s sweep has listed since is no proof (3.2 lists hand tokens out); one no list showed is', () => {
    const listed = record('R', { requestToken: 'token-listed', lastModified: '2024-05-01T09:00:00Z' });
    for (const code of ['CRRET', 'CREU1'] as const) {
      expect(judgeReadBack(inDoubt(code), listed, 'token-listed')).toMatchObject({ kind: 'unknown', why: expect.stringContaining('a list has handed out since') });
      expect(judgeReadBack(inDoubt(code), listed, 'token-before').kind).toBe('applied');
      expect(judgeReadBack(inDoubt(code), { ...listed, lastModified: '2024-05-01T09:00:01Z' }, 'token-listed').kind).toBe('applied');
    }
  });

  it('CRRET: never shown by a connected request', () => {
    const shown = record('R', { status: 'Connected', requestToken: 'token-after', lastModified: '2024-05-01T09:30:00Z' });
    expect(judgeReadBack(inDoubt('CRRET'), shown).kind).toBe('not_applied');
  });

  it('CRRET: no token and no later LastModified cannot tell (the reply is sent again, not dropped)', () => {
    const same = judgeReadBack(inDoubt('CRRET'), record('R', { requestToken: null, lastModified: '2024-05-01T09:00:00Z' }));
    expect(same).toMatchObject({ kind: 'unknown', why: expect.stringContaining('same LastModified') });
    const nothing = judgeReadBack(inDoubt('CRRET', { token: null, lastModified: null }), record('R', { lastModified: null }));
    expect(nothing).toMatchObject({ kind: 'unknown', why: expect.stringContaining('no LastModified') });
  });
});

describe.each(VERSIONS)('API $version: a read-back of what Concur holds after each reply', (v) => {
  const codes = Object.keys(v.after) as ReplyCode[];
  /** The request as Concur shows it once `code` was applied: requeued ones (Pending again) with a new token, at a later second. */
  const applied = (code: ReplyCode) =>
    record('R', {
      status: v.after[code],
      requestToken: v.after[code] === 'Pending' ? 'token-after' : 'token-before',
      lastModified: '2024-05-01T10:00:01Z',
    });
  const untouched = record('R', { requestToken: 'token-before', lastModified: '2024-05-01T09:00:00Z' });

  it.each(codes)('%s applied: recorded as sent, not sent again', (code) => {
    expect(judgeReadBack(inDoubt(code), applied(code)).kind).toBe('applied');
  });

  it.each(codes)('%s not applied (Concur shows the request as the attempt found it): sent', (code) => {
    expect(judgeReadBack(inDoubt(code), untouched).kind).toBe('not_applied');
  });
});

describe('leavesDoubt: whether a failed PUT may have reached Concur', () => {
  const network = (code: string) =>
    new ConcurError('unavailable', `PUT: could not reach Concur (${code})`, {}, { cause: Object.assign(new Error(code), { code }) });
  it.each([
    ['503 (maintenance)', new ConcurError('unavailable', 'x', { status: 503 }), false],
    ['429', new ConcurError('rate_limited', 'x', { status: 429 }), false],
    ['401/403', new ConcurError('unauthorized', 'x', { status: 403 }), false],
    ['a refused connection', network('ECONNREFUSED'), false],
    ['an unknown host', network('ENOTFOUND'), false],
    ['408', new ConcurError('concur_error', 'x', { status: 408 }), false],
    ['500', new ConcurError('unavailable', 'x', { status: 500 }), true],
    ['502/504 from a gateway', new ConcurError('unavailable', 'x', { status: 504 }), true],
    ['a connection reset', network('ECONNRESET'), true],
    ['a timeout', new ConcurError('timeout', 'x'), true],
    ['an unreadable answer', new ConcurError('bad_response', 'x', { status: 200 }), true],
    ['a 200 carrying <Error>', new ConcurError('concur_error', 'x', { status: 200 }), true],
    ['an error inside the relay', new TypeError('oops'), true],
  ])('%s → %s', (_what, error, doubt) => {
    expect(leavesDoubt(error)).toBe(doubt);
  });
});
