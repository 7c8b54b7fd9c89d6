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

describe('who the key belongs to, kept with the settings', () => {
  const saved = { relayUrl: 'http://127.0.0.1:8787', apiKey: KEY, notifications: true };

  it('is read with them', async () => {
    const me = { name: 'Alice', role: 'replier', prefix: 'abc123DE' } as const;
    await settingsItem.setValue({ ...saved, me });
    expect(await loadSettings()).toEqual({ ...saved, me });
  });

  it('one that does not read (a role this version does not know) is dropped, and the settings still work', async () => {
    await fakeBrowser.storage.local.set({ settings: { ...saved, me: { name: 'Carol', role: 'auditor', prefix: 'abc123DE' } } });
    const loaded = await loadSettings();
    expect(loaded).toEqual(saved);
    expect(loaded?.me).toBeUndefined();
  });
});
