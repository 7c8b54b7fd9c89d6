import { beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { hostAccessPattern, rememberIdentity, testConnection } from '../../../extension/options/connection';
import { settingsItem } from '../../../extension/lib/settings';

beforeEach(() => fakeBrowser.reset());

describe('hostAccessPattern', () => {
  it('leaves the port out (Firefox match patterns have none; Chrome then matches any port)', () => {
    expect(hostAccessPattern('http://127.0.0.1:8787')).toBe('http://127.0.0.1/*');
    expect(hostAccessPattern('https://ops.example.com/triplink')).toBe('https://ops.example.com/*');
    expect(hostAccessPattern('http://[::1]:8787')).toBe('http://[::1]/*');
  });
});

const RELAY = { relayUrl: 'http://relay.test', apiKey: 'trl_broker-key' };
const broker = { name: 'Back office', role: 'broker', prefix: 'trl_brok' } as const;

describe('testConnection', () => {
  it('a key whose role may not read the summary still learns whose it is', async () => {
    const fetchImpl: typeof fetch = async (input) =>
      String(input).endsWith('/api/v1/me')
        ? Response.json(broker)
        : Response.json({ error: { code: 'forbidden', message: 'the API key trl_brok… (Back office) is a broker: it may not read requests' } }, { status: 403 });
    expect(await testConnection(RELAY, fetchImpl)).toEqual({
      ok: false,
      problem: 'forbidden',
      detail: 'the API key trl_brok… (Back office) is a broker: it may not read requests',
      me: broker,
    });
  });
});

describe('rememberIdentity', () => {
  it('keeps it with the settings it was asked with, never with others saved meanwhile', async () => {
    await settingsItem.setValue({ ...RELAY, notifications: true });
    await rememberIdentity(RELAY, broker);
    expect(await settingsItem.getValue()).toEqual({ ...RELAY, notifications: true, me: broker });

    await settingsItem.setValue({ ...RELAY, apiKey: 'trl_someone-else', notifications: true });
    await rememberIdentity(RELAY, broker);
    expect(await settingsItem.getValue()).toEqual({ ...RELAY, apiKey: 'trl_someone-else', notifications: true });
  });
});
