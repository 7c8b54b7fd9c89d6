// @vitest-environment happy-dom
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { OptionsPage } from '../../../extension/options/options-page';
import { settingsItem } from '../../../extension/lib/settings';
import { PROBLEM_TEXTS, TEXT } from '../../../extension/lib/texts';
import { freshBrowserAndRelay } from '../helpers/fresh';
import { DOUBLE_KEY, eventually, makeRequest, type RelayDouble } from '../helpers/relay-double';

const T = TEXT.options;
let relay: RelayDouble;
let root: HTMLElement;

beforeEach(async () => {
  relay = await freshBrowserAndRelay();
  root = document.createElement('div');
  document.body.append(root);
});

afterEach(async () => {
  render(null, root);
  root.remove();
  await relay.close();
});

async function mount(): Promise<void> {
  await act(() => render(<OptionsPage />, root));
  await act(() => new Promise((resolve) => setTimeout(resolve, 0)));
}

const $ = <E extends Element = HTMLElement>(selector: string): E => {
  const found = root.querySelector<E>(selector);
  if (!found) throw new Error(`nothing matches ${selector}`);
  return found;
};
const field = (id: string) => $<HTMLInputElement>(`#${id}`);
const messages = () => [...root.querySelectorAll('.messages li')].map((li) => li.textContent ?? '');

/** Lets Preact render between checks (act flushes its queue only when its callback ends). */
async function settle(check: () => boolean, timeoutMs = 3000, what = 'a condition'): Promise<void> {
  await eventually(
    async () => {
      await act(() => new Promise((resolve) => setTimeout(resolve, 10)));
      return check();
    },
    timeoutMs,
    what,
  );
}

async function type(id: string, value: string): Promise<void> {
  await act(() => {
    const input = field(id);
    input.value = value;
    input.dispatchEvent(new Event('input', { bubbles: true }));
  });
}

function button(text: string): HTMLButtonElement {
  const found = [...root.querySelectorAll('button')].find((b) => b.textContent === text);
  if (!found) throw new Error(`no button ${text}`);
  return found;
}

describe('the options page', () => {
  it('labels every field and shows what is saved', async () => {
    await settingsItem.setValue({ relayUrl: relay.url, apiKey: DOUBLE_KEY, notifications: false });
    await mount();
    for (const id of ['relayUrl', 'apiKey', 'notifications']) {
      expect($(`label[for="${id}"]`).textContent?.length).toBeGreaterThan(0);
    }
    expect(field('relayUrl').value).toBe(relay.url);
    expect(field('apiKey').value).toBe(DOUBLE_KEY);
    expect(field('apiKey').type).toBe('password');
    expect(field('notifications').checked).toBe(false);
    expect($('.messages').getAttribute('role')).toBe('status');
  });

  it('shows and hides the key', async () => {
    await mount();
    const toggle = button(T.showKey);
    expect(toggle.getAttribute('aria-pressed')).toBe('false');
    expect(toggle.getAttribute('aria-controls')).toBe('apiKey');
    await act(() => toggle.click());
    expect(field('apiKey').type).toBe('text');
    expect(toggle.getAttribute('aria-pressed')).toBe('true');
    expect(toggle.getAttribute('aria-label')).toBe(T.hideKeyLabel);
  });

  it('marks wrong fields inline, focuses the first, and saves nothing', async () => {
    const request = vi.spyOn(fakeBrowser.permissions, 'request');
    await mount();
    await type('relayUrl', 'ftp://x');
    await type('apiKey', 'has space');
    await act(() => button(T.save).click());
    expect(field('relayUrl').getAttribute('aria-invalid')).toBe('true');
    expect(field('relayUrl').getAttribute('aria-describedby')).toContain('relayUrl-error');
    expect($('#relayUrl-error').textContent).toBe(TEXT.settingsErrors.relayUrlScheme('ftp'));
    expect($('#apiKey-error').textContent).toBe(TEXT.settingsErrors.apiKeySpaces);
    expect(document.activeElement).toBe(field('relayUrl'));
    expect(messages()).toEqual([T.fixFields]);
    expect(request).not.toHaveBeenCalled();
    expect(await settingsItem.getValue()).toMatchObject({ relayUrl: '', apiKey: '' });
  });

  it('asks for host access in the click itself, saves the normalised settings and tests them', async () => {
    relay.requests.push(makeRequest());
    const request = vi.spyOn(fakeBrowser.permissions, 'request').mockResolvedValue(true);
    await mount();
    const port = new URL(relay.url).port;
    await type('relayUrl', `  127.0.0.1:${port}/  `);
    await type('apiKey', ` ${DOUBLE_KEY} `);
    button(T.save).click();
    // Synchronously, before anything was awaited: the browser's user-gesture window.
    expect(request).toHaveBeenCalledWith({ origins: ['http://127.0.0.1/*'] });
    await settle(() => messages().length === 3, 3000, 'the saved and tested messages');
    expect(await settingsItem.getValue()).toEqual({ relayUrl: relay.url, apiKey: DOUBLE_KEY, notifications: true });
    expect(field('relayUrl').value).toBe(relay.url);
    expect(messages()).toEqual([T.saved, T.testOk(TEXT.concurStates.ok), T.testCounts(1, 0, 0)]);
  });

  it.each([
    ['refused', () => vi.spyOn(fakeBrowser.permissions, 'request').mockResolvedValue(false)],
    ['unavailable', () => vi.spyOn(fakeBrowser.permissions, 'request').mockRejectedValue(new Error('no'))],
    ['missing', () => vi.spyOn(fakeBrowser.permissions, 'request').mockImplementation(() => { throw new Error('not implemented'); })],
  ])('host access %s: still saves, and says the relay’s CORS is what counts then', async (_case, arrange) => {
    arrange();
    await mount();
    await type('relayUrl', relay.url);
    await type('apiKey', DOUBLE_KEY);
    await act(() => button(T.save).click());
    await settle(() => messages().length >= 3, 3000, 'the messages');
    expect(messages().slice(0, 2)).toEqual([T.saved, T.permissionDenied]);
    expect((await settingsItem.getValue()).relayUrl).toBe(relay.url);
  });

  it('Test connection: a refused key, then Concur in trouble', async () => {
    await mount();
    await type('relayUrl', relay.url);
    await type('apiKey', 'wrong-key');
    await act(() => button(T.test).click());
    await settle(() => messages().length > 0, 3000, 'the test result');
    expect(messages()).toEqual([PROBLEM_TEXTS.key_refused.message]);

    relay.concurState = 'unauthorized';
    await type('apiKey', DOUBLE_KEY);
    await act(() => button(T.test).click());
    await settle(() => messages().length === 3, 3000, 'the test result');
    expect(messages()).toEqual([
      T.testOk(TEXT.concurStates.unauthorized),
      T.testCounts(0, 0, 0),
      PROBLEM_TEXTS.concur_unauthorized.message,
    ]);
    // Testing saves nothing.
    expect((await settingsItem.getValue()).relayUrl).toBe('');
  });

  it('Test connection: nobody answers', async () => {
    const url = relay.url;
    await relay.close();
    await mount();
    await type('relayUrl', url);
    await type('apiKey', DOUBLE_KEY);
    await act(() => button(T.test).click());
    await settle(() => messages().length > 0, 5000, 'the test result');
    expect(messages()).toEqual([PROBLEM_TEXTS.unreachable.message]);
  });
});

describe('the options page: whose key it is', () => {
  const alice = { name: 'Alice', role: 'replier', prefix: DOUBLE_KEY.slice(0, 8) } as const;
  const identity = () => root.querySelector('#apiKey-identity')?.textContent ?? null;

  it('Test connection names the key’s owner and role under the key; editing the key forgets it', async () => {
    relay.me = alice;
    await mount();
    await type('relayUrl', relay.url);
    await type('apiKey', DOUBLE_KEY);
    expect(identity()).toBeNull();
    await act(() => button(T.test).click());
    await settle(() => identity() !== null, 3000, 'the identity');
    expect(identity()).toBe(T.identity('Alice', 'replier'));
    expect(identity()).toContain('Alice (replier)');
    expect(field('apiKey').getAttribute('aria-describedby')).toContain('apiKey-identity');
    // The test's own messages are as before.
    expect(messages()).toEqual([T.testOk(TEXT.concurStates.ok), T.testCounts(0, 0, 0)]);
    // Nothing was saved, so nothing is kept.
    expect((await settingsItem.getValue()).me).toBeUndefined();

    await type('apiKey', 'another-key');
    expect(identity()).toBeNull();
  });

  it('Save keeps it with the settings (the popup reads the role there); the page shows it when opened again', async () => {
    relay.me = { name: 'Bob', role: 'viewer', prefix: DOUBLE_KEY.slice(0, 8) };
    vi.spyOn(fakeBrowser.permissions, 'request').mockResolvedValue(true);
    await mount();
    await type('relayUrl', relay.url);
    await type('apiKey', DOUBLE_KEY);
    await act(() => button(T.save).click());
    await settle(() => identity() !== null, 3000, 'the identity');
    expect(identity()).toBe(T.identity('Bob', 'viewer'));
    await eventually(async () => (await settingsItem.getValue()).me !== undefined);
    expect(await settingsItem.getValue()).toEqual({ relayUrl: relay.url, apiKey: DOUBLE_KEY, notifications: true, me: relay.me });

    render(null, root);
    await mount();
    await settle(() => identity() !== null, 3000, 'the kept identity');
    expect(identity()).toBe(T.identity('Bob', 'viewer'));
  });

  it('a relay without /me still tests fine, without a name (and a kept one goes); a refused key names nobody', async () => {
    await settingsItem.setValue({ relayUrl: relay.url, apiKey: DOUBLE_KEY, notifications: true, me: alice });
    await mount();
    await settle(() => identity() !== null, 3000, 'the kept identity');
    await act(() => button(T.test).click());
    await settle(() => messages().length === 2, 3000, 'the test result');
    expect(messages()).toEqual([T.testOk(TEXT.concurStates.ok), T.testCounts(0, 0, 0)]);
    expect(identity()).toBeNull();
    await eventually(async () => (await settingsItem.getValue()).me === undefined);
    expect(await settingsItem.getValue()).toEqual({ relayUrl: relay.url, apiKey: DOUBLE_KEY, notifications: true });

    relay.me = alice;
    await type('apiKey', 'wrong-key');
    await act(() => button(T.test).click());
    await settle(() => messages().length === 1, 3000, 'the test result');
    expect(messages()).toEqual([PROBLEM_TEXTS.key_refused.message]);
    expect(identity()).toBeNull();
  });
});
