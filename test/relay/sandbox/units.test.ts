import { describe, expect, it } from 'vitest';
import { parseAuthorization } from '../../../relay/sandbox/auth.js';
import { ManualClock, OffsetClock, adjustable, systemClock } from '../../../relay/sandbox/clock.js';
import { FaultBook } from '../../../relay/sandbox/faults.js';
import { concurTime } from '../../../relay/sandbox/format/time.js';
import { negotiate, routingPath } from '../../../relay/sandbox/http.js';
import { Random } from '../../../relay/sandbox/random.js';
import { T0 } from './helpers.js';

describe('sandbox building blocks', () => {
  it('ManualClock moves only when told; OffsetClock adds an offset to another clock', () => {
    const manual = new ManualClock(T0);
    expect(manual.now()).toBe(T0);
    manual.advance(1500);
    expect(manual.now()).toBe(T0 + 1500);
    manual.set(new Date(T0));
    expect(manual.now()).toBe(T0);
    expect(adjustable(manual)).toBe(manual);
    const offset = new OffsetClock({ now: () => 1000 });
    offset.advance(500);
    expect(offset.now()).toBe(1500);
    expect(adjustable(systemClock)).toBeInstanceOf(OffsetClock);
    expect(concurTime(T0 + 999)).toBe('2024-05-01T12:00:00');
  });

  it('the PRNG is deterministic', () => {
    const a = new Random(42);
    const b = new Random(42);
    expect(Array.from({ length: 5 }, () => a.chars(10))).toEqual(Array.from({ length: 5 }, () => b.chars(10)));
    expect(new Random(1).guid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it.each([
    [undefined, 'xml'],
    ['', 'xml'],
    ['application/json', 'json'],
    ['application/xml', 'xml'],
    ['text/xml', 'xml'],
    ['*/*', 'xml'],
    ['application/json, application/xml', 'json'],
    ['application/xml, application/json', 'xml'],
    ['application/xml;q=0.1, application/json', 'json'],
    ['application/json;q=0', 'xml'],
    ['text/html', 'xml'],
  ] as const)('Accept %s → %s', (accept, format) => {
    expect(negotiate(accept)).toBe(format);
  });

  it('routes paths case-insensitively but keeps IDs as sent', () => {
    const path = (url: string) => routingPath(new Request(url));
    expect(path('http://h/api/v3.0/Common/ConnectionRequests?x=1')).toBe('/api/v3.0/common/connectionrequests');
    expect(path('http://h/API/v3.2/common/CONNECTIONREQUESTS/AbC/')).toBe('/api/v3.2/common/connectionrequests/AbC');
    expect(path('http://h/Net2/OAuth2/GetAccessToken.ashx')).toBe('/net2/oauth2/getaccesstoken.ashx');
    expect(path('http://h/_sandbox/requests/AbC')).toBe('/_sandbox/requests/AbC');
  });

  it.each([
    [undefined, { kind: 'missing' }],
    ['OAuth abc', { kind: 'token', scheme: 'OAuth', token: 'abc' }],
    ['bearer x.y.z', { kind: 'token', scheme: 'Bearer', token: 'x.y.z' }],
    ['Basic abc', { kind: 'malformed', scheme: 'Basic' }],
    ['Bearer', { kind: 'malformed', scheme: 'Bearer' }],
    ['Bearer a b', { kind: 'malformed', scheme: null }],
  ] as const)('Authorization %s', (header, expected) => {
    expect(parseAuthorization(header)).toEqual(expected);
  });

  it('faults: latency adds up, the first other fault decides, times counts down per match', () => {
    const book = new FaultBook();
    book.add({ route: 'any', kind: 'latency', latencyMs: 10, times: 2 });
    book.add({ route: 'list', kind: 'latency', latencyMs: 5 });
    book.add({ route: 'list', kind: 'status503', times: 1 });
    book.add({ route: 'list', kind: 'status429' });
    book.add({ route: 'token', kind: 'hang', times: 1 });
    const first = book.take('list');
    expect(first.latencyMs).toBe(15);
    expect(first.terminal?.kind).toBe('status503');
    const second = book.take('list');
    expect(second.latencyMs).toBe(15);
    expect(second.terminal?.kind).toBe('status429');
    expect(book.take('list')).toMatchObject({ latencyMs: 5, terminal: { kind: 'status429' } });
    expect(book.take('get')).toMatchObject({ latencyMs: 0, terminal: null });
    expect(book.take('exchange').terminal?.kind).toBe('hang');
    expect(book.take('token').terminal).toBeNull();
    expect(book.list().map((f) => f.kind)).toEqual(['latency', 'status429']);
  });
});
