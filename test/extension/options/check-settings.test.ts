import { describe, expect, it } from 'vitest';
import { checkSettings, normaliseRelayUrl } from '../../../extension/options/check-settings';
import { TEXT } from '../../../extension/lib/texts';

const KEY = 'abc123DEF456';
const check = (relayUrl: string, apiKey = KEY) => checkSettings({ relayUrl, apiKey, notifications: true });

describe('relay address: lenient about how it is typed', () => {
  it.each([
    ['localhost:8787/', 'http://localhost:8787'],
    ['  http://127.0.0.1:8787  ', 'http://127.0.0.1:8787'],
    ['127.0.0.1:8787', 'http://127.0.0.1:8787'],
    ['[::1]:8787', 'http://[::1]:8787'],
    ['HTTP://LOCALHOST:8787//', 'http://localhost:8787'],
    ['relay.example.com', 'https://relay.example.com'],
    ['relay.example.com:443', 'https://relay.example.com'],
    ['relay.example.com:8787', 'http://relay.example.com:8787'],
    ['192.168.1.20:8787', 'http://192.168.1.20:8787'],
    ['relayhost:8787', 'http://relayhost:8787'],
    ['https://relay.example.com/', 'https://relay.example.com'],
    ['https://ops.example.com/triplink/', 'https://ops.example.com/triplink'],
    ['http://relay.example.com:80', 'http://relay.example.com'],
  ])('%j → %j', (input, expected) => {
    expect(normaliseRelayUrl(input)).toBe(expected);
    const result = check(input);
    expect(result.ok && result.settings.relayUrl).toBe(expected);
  });
});

describe('relay address: strict about what can work', () => {
  it.each([
    ['ftp://x', TEXT.settingsErrors.relayUrlScheme('ftp')],
    ['file:///etc/passwd', TEXT.settingsErrors.relayUrlScheme('file')],
    ['http://user:pw@host', TEXT.settingsErrors.relayUrlCredentials],
    ['user:pw@relay.example.com', TEXT.settingsErrors.relayUrlCredentials],
    ['https://relay.example.com/?key=1', TEXT.settingsErrors.relayUrlExtra],
    ['https://relay.example.com/#x', TEXT.settingsErrors.relayUrlExtra],
    ['http://', TEXT.settingsErrors.relayUrlInvalid],
    ['http://exa mple.com', TEXT.settingsErrors.relayUrlInvalid],
    ['', TEXT.settingsErrors.relayUrlMissing],
    ['   ', TEXT.settingsErrors.relayUrlMissing],
  ])('%j is refused with a message that says why', (input, message) => {
    expect(normaliseRelayUrl(input)).toBeNull();
    const result = check(input);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors.relayUrl).toBe(message);
  });
});

describe('API key', () => {
  it('is trimmed', () => {
    const result = check('localhost:8787', `  ${KEY}\n`);
    expect(result.ok && result.settings.apiKey).toBe(KEY);
  });

  it.each([
    ['', TEXT.settingsErrors.apiKeyMissing],
    ['   ', TEXT.settingsErrors.apiKeyMissing],
    ['abc def', TEXT.settingsErrors.apiKeySpaces],
    ['abc\tdef', TEXT.settingsErrors.apiKeySpaces],
  ])('%j is refused', (apiKey, message) => {
    const result = check('localhost:8787', apiKey);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors.apiKey).toBe(message);
  });

  it('reports both fields at once', () => {
    const result = checkSettings({ relayUrl: 'ftp://x', apiKey: '', notifications: false });
    expect(result.ok).toBe(false);
    expect(!result.ok && Object.keys(result.errors).sort()).toEqual(['apiKey', 'relayUrl']);
  });

  it('keeps the notifications choice', () => {
    const result = checkSettings({ relayUrl: 'localhost:8787', apiKey: KEY, notifications: false });
    expect(result.ok && result.settings.notifications).toBe(false);
  });
});
