import { beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { loadSettings, settingsItem } from '../../../extension/lib/settings';

beforeEach(() => {
  fakeBrowser.reset();
  vi.restoreAllMocks();
});

const KEY = 'abc123DEF456';

describe('loadSettings', () => {
  it('is null until both address and key are saved', async () => {
    expect(await loadSettings()).toBeNull();
    await settingsItem.setValue({ relayUrl: 'http://127.0.0.1:8787', apiKey: '', notifications: true });
    expect(await loadSettings()).toBeNull();
    await settingsItem.setValue({ relayUrl: 'http://127.0.0.1:8787', apiKey: KEY, notifications: true });
    expect(await loadSettings()).toEqual({ relayUrl: 'http://127.0.0.1:8787', apiKey: KEY, notifications: true });
  });

  it('is null for something that is not settings', async () => {
    await fakeBrowser.storage.local.set({ settings: { relayUrl: 42 } });
    expect(await loadSettings()).toBeNull();
  });
});
