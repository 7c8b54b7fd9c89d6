import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bearerToken } from '../../../../relay/api/middleware/auth.js';
import { API_KEY, ApiServer, AUTH, errorOf, expectNoSecrets, record } from '../helpers.js';

let s: ApiServer;
beforeEach(async () => {
  s = await new ApiServer().start();
  s.store.requests.upsertFromConcur([record('R1')], s.clock.iso());
});
afterEach(async () => {
  expectNoSecrets(s);
  await s.stop();
});

const API_ROUTES = ['/api/v1/summary', '/api/v1/requests', '/api/v1/requests/R1', '/api/v1/events', '/api/v1/nope'];

describe('the API key', () => {
  it.each(API_ROUTES)('is required on %s: 401 with WWW-Authenticate and how to send it', async (path) => {
    const answer = await s.get(path, {});
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toBe('Bearer');
    const error = errorOf(answer);
    expect(error.code).toBe('unauthorized');
    expect(error.message).toContain('Authorization: Bearer <api key>');
  });

  it('is required to post a reply, and nothing is stored without it', async () => {
    const answer = await s.fetch('/api/v1/requests/R1/reply', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ status: 'CRSUC' }),
    });
    expect(answer.status).toBe(401);
    expect(s.store.replies.pendingCount()).toBe(0);
    expect(s.kicks).toBe(0);
  });

  it.each([
    ['a wrong key', `Bearer ${API_KEY.slice(0, -1)}x`],
    ['the key with a suffix', `Bearer ${API_KEY}0`],
    ['a prefix of the key', `Bearer ${API_KEY.slice(0, 8)}`],
    ['another scheme', `Basic ${Buffer.from(`user:${API_KEY}`).toString('base64')}`],
    ['the key without a scheme', API_KEY],
    ['an empty Bearer', 'Bearer '],
    ['two tokens', `Bearer ${API_KEY} ${API_KEY}`],
  ])('refuses %s with 401', async (_name, authorization) => {
    const answer = await s.get('/api/v1/summary', { Authorization: authorization });
    expect(answer.status).toBe(401);
    expect(errorOf(answer).code).toBe('unauthorized');
    expect(answer.headers.get('www-authenticate')).toBe('Bearer');
  });

  it.each([
    ['Bearer', `Bearer ${API_KEY}`],
    ['lower-case bearer', `bearer ${API_KEY}`],
    ['upper-case BEARER', `BEARER ${API_KEY}`],
    ['extra spaces', `Bearer   ${API_KEY}  `],
  ])('accepts %s', async (_name, authorization) => {
    expect((await s.get('/api/v1/summary', { Authorization: authorization })).status).toBe(200);
  });

  it('accepts any of several configured keys, and refuses all with none configured', async () => {
    const [first, second] = ['first-key-0123456789', 'second-key-0123456789'];
    s.store.keys.syncEnvKeys([first, second]);
    const status = async (key: string) => (await s.get('/api/v1/summary', { Authorization: `Bearer ${key}` })).status;
    expect(await status(first)).toBe(200);
    expect(await status(second)).toBe(200);
    expect(await status('third-key-0123456789')).toBe(401);
    // RELAY_API_KEYS emptied: every key it had named is revoked at once, no restart.
    s.store.keys.syncEnvKeys([]);
    expect(await status(first)).toBe(401);
    expect(await status(second)).toBe(401);
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken('Bearer abc')).toBe('abc');
  });

  it('refusals are not cacheable', async () => {
    const answer = await s.get('/api/v1/summary', {});
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('is not needed for /healthz, /metrics and /openapi.json', async () => {
    for (const path of ['/healthz', '/metrics', '/openapi.json']) {
      expect((await s.get(path, {})).status, path).toBe(200);
    }
  });

  it('never shows up in the log, nor does the query string', async () => {
    await s.get('/api/v1/requests?cursor=QUERY-SECRET-123', AUTH);
    await s.get('/api/v1/summary', { Authorization: `Bearer ${API_KEY}` });
    await s.get('/api/v1/summary', { Authorization: 'Bearer wrong-key-that-is-long' });
    const log = s.logLines.join('\n');
    expect(log).not.toContain(API_KEY);
    expect(log).not.toContain('wrong-key-that-is-long');
    expect(log).not.toContain('QUERY-SECRET-123');
    const lines = s.logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const summaryLine = lines.find((line) => line.path === '/api/v1/summary' && line.status === 200);
    expect(summaryLine).toMatchObject({ method: 'GET', status: 200, msg: 'request' });
    expect(typeof summaryLine?.reqId).toBe('string');
    expect(typeof summaryLine?.durationMs).toBe('number');
  });
});

describe('CORS', () => {
  const preflight = (origin: string, method = 'POST') =>
    s.fetch('/api/v1/requests/R1/reply', {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': method,
        'Access-Control-Request-Headers': 'authorization,content-type,idempotency-key',
      },
    });

  const CHROME = 'chrome-extension://abcdefghijklmnopabcdefghijklmnop';

  it.each([CHROME, 'chrome-extension://ponmlkjihgfedcbaponmlkjihgfedcba', 'moz-extension://0b5e6f3c-2f7d-4a51-9a8e-6c1d2e3f4a5b'])(
    'allows a preflight from %s, with the headers the extension sends',
    async (origin) => {
      const answer = await preflight(origin);
      expect(answer.status).toBe(204);
      expect(answer.headers.get('access-control-allow-origin')).toBe(origin);
      const allowHeaders = (answer.headers.get('access-control-allow-headers') ?? '').toLowerCase();
      for (const header of ['authorization', 'content-type', 'idempotency-key', 'last-event-id']) {
        expect(allowHeaders).toContain(header);
      }
      expect(answer.headers.get('access-control-allow-methods')).toContain('POST');
      expect(answer.headers.get('access-control-allow-credentials')).toBeNull();
      expect(answer.headers.get('vary')).toContain('Origin');
    },
  );

  /** Origins no browser sends: only a well-formed origin may match, and so be echoed. */
  const MALFORMED = [
    'chrome-extension://abc evil',
    'chrome-extension://abcdefghijklmnopabcdefghijklmnop evil',
    'chrome-extension://abcdefghijklmnopabcdefghijklmnop, https://evil.example',
    'chrome-extension://abc',
    'chrome-extension://abcdefghijklmnopabcdefghijklmnopa',
    'chrome-extension://abcdefghijklmnopabcdefghijklmnoq',
    'chrome-extension://abcdefghijklmnopabcdefghijklmnop/',
    'chrome-extension://abcdefghijklmnopabcdefghijklmnop:8080',
    'chrome-extension://',
    'moz-extension://not-a-uuid',
    'moz-extension://0b5e6f3c-2f7d-4a51-9a8e-6c1d2e3f4a5',
    'moz-extension://0b5e6f3c-2f7d-4a51-9a8e-6c1d2e3f4a5b evil',
    'moz-extension://{0b5e6f3c-2f7d-4a51-9a8e-6c1d2e3f4a5b}',
  ];

  it.each(['https://evil.example', 'http://localhost:3000', 'null', 'chrome-extension-evil://abc', ...MALFORMED])(
    'refuses a preflight from %s (no Access-Control-Allow-Origin)',
    async (origin) => {
      const answer = await preflight(origin);
      expect(answer.status).toBe(204);
      expect(answer.headers.get('access-control-allow-origin')).toBeNull();
      expect(answer.headers.get('access-control-allow-headers')).toBeNull();
      expect(answer.headers.get('access-control-allow-methods')).toBeNull();
      expect(s.store.replies.pendingCount()).toBe(0);
    },
  );

  it('labels real answers for an allowed origin (errors included) and not for others', async () => {
    const origin = CHROME;
    const ok = await s.get('/api/v1/summary', { ...AUTH, Origin: origin });
    expect(ok.headers.get('access-control-allow-origin')).toBe(origin);
    const unauthorized = await s.get('/api/v1/summary', { Origin: origin });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('access-control-allow-origin')).toBe(origin);
    const evil = await s.get('/api/v1/summary', { ...AUTH, Origin: 'https://evil.example' });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('exposes only harmless headers', async () => {
    const answer = await s.get('/api/v1/summary', { ...AUTH, Origin: CHROME });
    const exposed = (answer.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/\s*,\s*/);
    expect(exposed.sort()).toEqual(['allow', 'link', 'relay-event-id', 'retry-after', 'www-authenticate', 'x-request-id']);
  });

  it('follows RELAY_CORS_ORIGINS when it is set', async () => {
    await s.stop();
    s = await new ApiServer().start({ deps: { corsOrigins: ['https://ops.example.com'] } });
    expect((await preflight('https://ops.example.com')).headers.get('access-control-allow-origin')).toBe(
      'https://ops.example.com',
    );
    expect((await preflight(CHROME)).headers.get('access-control-allow-origin')).toBeNull();
  });

  it.each(MALFORMED)('never echoes %j on a real answer, not even with the defaults or *', async (origin) => {
    const answer = await s.get('/api/v1/summary', { ...AUTH, Origin: origin });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    await s.stop();
    s = await new ApiServer().start({ deps: { corsOrigins: ['*'] } });
    const any = await s.get('/api/v1/summary', { ...AUTH, Origin: origin });
    expect(any.headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight(origin)).headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight(CHROME)).headers.get('access-control-allow-origin')).toBe(CHROME);
  });

  it('matches configured patterns only with well-formed host names', async () => {
    await s.stop();
    s = await new ApiServer().start({ deps: { corsOrigins: ['https://*.example.org', 'http://localhost:*'] } });
    expect((await preflight('https://ops.example.org')).headers.get('access-control-allow-origin')).toBe('https://ops.example.org');
    expect((await preflight('http://localhost:5173')).headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    for (const origin of ['https://a b.example.org', 'https://evil.example/.example.org', 'https://x.example.org:99999', 'http://localhost:5173/x', 'http://local host:5173']) {
      expect((await preflight(origin)).headers.get('access-control-allow-origin'), origin).toBeNull();
    }
  });
});
