import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { askDirectory, questionBody, type DirectoryTarget, type Traveller } from '../../../relay/match/directory.js';
import { fixtureServer } from '../../helpers/fixture-server.js';
import { DIRECTORY_SECRET, TestDirectory } from './helpers.js';

/**
 * One call to the member directory over real HTTP on loopback: the body it carries (the
 * traveller, never more), a signature an independent Standard Webhooks library accepts, and what
 * each kind of answer, or the lack of one, comes to.
 */

const ADA: Traveller = { requestId: 'REQ-1', firstName: 'Ada', middleName: null, lastName: 'Lovelace', loyaltyNumber: 'LN-1' };

let directory: TestDirectory;
beforeEach(async () => {
  directory = await new TestDirectory().start();
});
afterEach(() => directory.close());

const target = (overrides: Partial<DirectoryTarget> = {}): DirectoryTarget => ({
  url: directory.url,
  secret: DIRECTORY_SECRET,
  timeoutMs: 2_000,
  allowPrivate: true,
  ...overrides,
});

describe('the question', () => {
  it('is a signed match.request with the traveller and nothing else', async () => {
    directory.answer = () => ({ result: 'member', memberId: 'M-7', note: 'gold' });
    // A field the traveller's record might carry beside the names must not reach the body.
    const withToken = { ...ADA, requestToken: 'secret-request-token' } as Traveller;
    const asked = await askDirectory(target(), withToken, Date.now());
    expect(asked).toEqual({ ok: true, answer: { result: 'member', memberId: 'M-7', note: 'gold' } });
    const [call] = directory.calls;
    expect(call?.signed).toBe(true);
    expect(JSON.parse(call!.body)).toEqual({
      type: 'match.request',
      timestamp: expect.stringMatching(/Z$/),
      data: { requestId: 'REQ-1', firstName: 'Ada', middleName: null, lastName: 'Lovelace', loyaltyNumber: 'LN-1', emailAddresses: [] },
    });
    expect(call!.body).not.toContain('secret-request-token');
    expect(call!.headers['content-type']).toBe('application/json');
    expect(call!.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
  });

  it('carries the e-mail addresses of API 3.2, and a fresh message id for each call', async () => {
    await askDirectory(target(), { ...ADA, emailAddresses: ['ada@example.com'] }, Date.now());
    await askDirectory(target(), ADA, Date.now());
    expect(directory.calls.map((call) => call.question?.data.emailAddresses)).toEqual([['ada@example.com'], []]);
    expect(new Set(directory.calls.map((call) => call.headers['webhook-id'])).size).toBe(2);
  });

  it('questionBody builds the body field by field', () => {
    const body = JSON.parse(questionBody({ ...ADA, extra: 'x' } as Traveller, Date.parse('2024-05-01T10:00:00Z')));
    expect(body).toEqual({
      type: 'match.request',
      timestamp: '2024-05-01T10:00:00.000Z',
      data: { requestId: 'REQ-1', firstName: 'Ada', middleName: null, lastName: 'Lovelace', loyaltyNumber: 'LN-1', emailAddresses: [] },
    });
  });
});

describe('what an answer comes to', () => {
  it('takes every result, with or without memberId and note, and ignores extra fields', async () => {
    for (const result of ['member', 'not_found', 'name_mismatch', 'needs_verification', 'unknown'] as const) {
      directory.answer = () => ({ result, extra: true }) as never;
      expect(await askDirectory(target(), ADA, Date.now())).toEqual({ ok: true, answer: { result } });
    }
  });

  it('a directory that refuses the signature (another secret): an HTTP error that says to check the secret', async () => {
    const other = `whsec_${Buffer.from('another secret of thirty-two bytes!!').toString('base64')}`;
    const asked = await askDirectory(target({ secret: other }), ADA, Date.now());
    expect(asked).toMatchObject({ ok: false, failure: 'http_error', note: expect.stringContaining('answered 401') });
    expect(asked.ok ? '' : asked.note).toContain('RELAY_MATCH_SECRET');
    expect(directory.calls[0]?.signed).toBe(false);
  });

  it('500, malformed JSON, an answer outside the schema, a timeout: each with its reason', async () => {
    directory.answer = () => ({ status: 500, body: '{"result":"member"}' });
    expect(await askDirectory(target(), ADA, Date.now())).toMatchObject({ ok: false, failure: 'http_error', note: expect.stringContaining('500') });
    directory.answer = () => ({ status: 200, body: '{"result":"member",' });
    expect(await askDirectory(target(), ADA, Date.now())).toMatchObject({ ok: false, failure: 'malformed', note: expect.stringContaining('not with JSON') });
    directory.answer = () => ({ status: 200, body: '{"result":"maybe"}' });
    expect(await askDirectory(target(), ADA, Date.now())).toMatchObject({ ok: false, failure: 'malformed', note: expect.stringContaining('result') });
    directory.answer = () => ({ status: 200, body: '{"result":"member","memberId":""}' });
    expect(await askDirectory(target(), ADA, Date.now())).toMatchObject({ ok: false, failure: 'malformed', note: expect.stringContaining('memberId') });
    directory.answer = () => 'hang';
    const started = Date.now();
    expect(await askDirectory(target({ timeoutMs: 300 }), ADA, Date.now())).toEqual({
      ok: false,
      failure: 'timeout',
      note: 'the member directory did not answer within 0.3 s',
    });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a body too long for any answer is cut, and then is no answer', async () => {
    directory.answer = () => ({ status: 200, body: JSON.stringify({ result: 'member', note: 'x'.repeat(100_000) }) });
    expect(await askDirectory(target(), ADA, Date.now())).toMatchObject({ ok: false, failure: 'malformed' });
  });

  it('an address the SSRF guard refuses is not called; a closed port is a network error', async () => {
    expect(await askDirectory(target({ allowPrivate: false }), ADA, Date.now())).toMatchObject({
      ok: false,
      failure: 'refused',
      note: expect.stringContaining('was not called'),
    });
    expect(directory.calls).toHaveLength(0);
    const closed = await fixtureServer(() => {});
    const url = `${closed.url}/match`;
    await closed.close();
    expect(await askDirectory(target({ url }), ADA, Date.now())).toMatchObject({ ok: false, failure: 'network_error' });
  });
});
