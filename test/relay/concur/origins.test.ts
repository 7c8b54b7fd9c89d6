import { describe, expect, it } from 'vitest';
import { AllowedOrigins, whereTo } from '../../../relay/concur/origins.js';

describe('AllowedOrigins', () => {
  const allowed = new AllowedOrigins(['https://www.concursolutions.com/some/path?x=1']);
  const allows = (url: string) => allowed.allows(new URL(url));

  it('allows the configured origin, whatever the path, and its spellings the URL standard folds together', () => {
    expect(allows('https://www.concursolutions.com/api/v3.0/common/connectionrequests?offset=a')).toBe(true);
    expect(allows('HTTPS://WWW.ConcurSolutions.com:443/x')).toBe(true);
  });

  it('refuses another scheme, port or host, and any user info', () => {
    expect(allows('http://www.concursolutions.com/x')).toBe(false);
    expect(allows('https://www.concursolutions.com:8443/x')).toBe(false);
    expect(allows('https://www.concursolutions.com.evil.example/x')).toBe(false);
    expect(allows('https://www.concursolutions.com@evil.example/x')).toBe(false);
    expect(allows('https://user:pw@www.concursolutions.com/x')).toBe(false);
    expect(allows('javascript:alert(1)')).toBe(false);
  });

  it('grows with add() (API 3.2: the token geolocation), and refuses a non-http origin', () => {
    const origins = new AllowedOrigins(['https://www.concursolutions.com']);
    expect(origins.allows(new URL('https://us.api.concursolutions.com/x'))).toBe(false);
    origins.add('https://us.api.concursolutions.com');
    expect(origins.allows(new URL('https://us.api.concursolutions.com/x'))).toBe(true);
    expect(String(origins)).toBe('https://www.concursolutions.com, https://us.api.concursolutions.com');
    expect(() => origins.add('file:///etc/passwd')).toThrow(TypeError);
  });

  it('describes a URL by its origin alone', () => {
    expect(whereTo(new URL('https://evil.example/steal?token=abc'))).toBe('https://evil.example');
    expect(whereTo(new URL('https://a:b@evil.example/'))).toBe('https://evil.example (with a user name in the URL)');
    expect(whereTo(new URL('data:text/plain,x'))).toBe('a data URL');
  });
});
