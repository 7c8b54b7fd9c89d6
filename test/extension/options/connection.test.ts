import { describe, expect, it } from 'vitest';
import { hostAccessPattern } from '../../../extension/options/connection';

describe('hostAccessPattern', () => {
  it('leaves the port out (Firefox match patterns have none; Chrome then matches any port)', () => {
    expect(hostAccessPattern('http://127.0.0.1:8787')).toBe('http://127.0.0.1/*');
    expect(hostAccessPattern('https://ops.example.com/triplink')).toBe('https://ops.example.com/*');
    expect(hostAccessPattern('http://[::1]:8787')).toBe('http://[::1]/*');
  });
});
