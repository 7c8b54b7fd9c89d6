import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiServer, AUTH, errorOf, expectNoSecrets, record } from '../helpers.js';

/** Request bodies are JSON in UTF-8: a Content-Type naming another charset is refused (relay/api/body-charset.ts). */

let s: ApiServer;
beforeEach(async () => {
  s = await new ApiServer().start();
});
afterEach(async () => {
  expectNoSecrets(s);
  await s.stop();
});

function seed(): void {
  s.store.requests.upsertFromConcur([record('R1')], s.clock.iso());
}

const replyRows = () => {
  const counts = s.store.replies.counts();
  return counts.queued + counts.sent + counts.failed;
};

describe('the charset of a request body', () => {
  it.each(['application/json; charset=UTF-8', 'application/json;charset="utf-8"', 'Application/JSON; CHARSET=Utf-8'])(
    'accepts UTF-8 named as %j (any case, quoted or not)',
    async (contentType) => {
      seed();
      const answer = await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, { 'Content-Type': contentType });
      expect(answer.status).toBe(202);
    },
  );

  it.each([
    ['application/json; charset=utf-16', 'utf-16'],
    ['application/json; charset="UTF-16LE"', 'utf-16le'],
    ['application/json; charset=iso-8859-1', 'iso-8859-1'],
    ['application/json; charset=utf8', 'utf8'],
    ['application/json; charset=', ''],
    ['application/json; charset=utf-8; charset=utf-16', 'utf-16'],
  ])('refuses a body sent as %j with 415, naming UTF-8 as the one accepted', async (contentType, named) => {
    seed();
    // Plain ASCII: the relay would have read it as UTF-8 and taken it.
    const answer = await s.post('/api/v1/requests/R1/reply', { status: 'CRSUC' }, { 'Content-Type': contentType });
    expect(answer.status).toBe(415);
    const error = errorOf(answer);
    expect(error.code).toBe('unsupported_media_type');
    expect(error.message).toContain('UTF-8');
    expect(error.message).toContain('application/json; charset=utf-8');
    if (named !== '') expect(error.message).toContain(`charset=${named}`);
    expect(replyRows()).toBe(0);
    expect(s.kicks).toBe(0);
  });

  it('refuses a body really written in UTF-16 with 415, not as bad JSON', async () => {
    seed();
    const body = Buffer.from('{"status":"CRSUC"}', 'utf16le');
    const answer = await s.raw('POST', '/api/v1/requests/R1/reply', { ...AUTH, 'Content-Type': 'application/json; charset=utf-16le', 'Content-Length': String(body.length) }, [body]);
    expect(answer.status).toBe(415);
    expect(errorOf(answer).code).toBe('unsupported_media_type');
    expect(replyRows()).toBe(0);
  });

  it('applies to every route that takes a body', async () => {
    const answer = await s.post('/api/v1/webhooks', { url: 'https://8.8.8.8/hook', events: ['request.created'] }, {
      'Content-Type': 'application/json; charset=windows-1252',
    });
    expect(answer.status).toBe(415);
    expect(errorOf(answer).message).toContain('charset=windows-1252');
    expect(s.store.webhooks.list()).toEqual([]);
  });
});
