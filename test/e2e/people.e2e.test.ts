import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { type ApiKey } from '../../shared/people.js';
import { POPUP_TEXT, PROBLEM_TEXTS, TEXT } from '../../extension/lib/texts.js';
import { eventually } from '../helpers/relay-process.js';
import { badgeShownAt, extensionStorage, rowSelector, writeSettings } from './browser.js';
import { sandboxSuite } from './sandbox-suite.js';

/**
 * People and their keys, as the extension shows them in a real Chromium against a relay in
 * sandbox mode: whose key the options page tests, who asked for a reply, a viewer's popup without
 * reply buttons, and a key revoked while the popup is open. The keys are store records made by
 * the test (as `keys create` would), the relay's own RELAY_API_KEYS key is the test's.
 */

const ADMIN_KEY = 'e2e-people-key-0123456789abcdef';
const SEEDED = 12; // what the sandbox seeds (relay/sandbox/README.md)
const CLI = { keyId: null, name: 'cli' };

let alice: { key: ApiKey; secret: string };
let bob: { key: ApiKey; secret: string };
let popup: Page;

const suite = sandboxSuite(ADMIN_KEY, {}, async (relay) => {
  await eventually(() => relay.store.requests.counts().pending === SEEDED);
  alice = relay.store.keys.create({ name: 'Alice', role: 'replier' }, CLI);
  bob = relay.store.keys.create({ name: 'Bob', role: 'viewer' }, CLI);
});
const { ext, requestById } = suite;

describe('people and their keys in Chromium against a sandbox relay', () => {
  it('the options page shows whose key it is after Test connection, "Alice (replier)", and Save keeps it', async () => {
    const b = ext();
    // Stored as an earlier Save would have (the options test types them in; here they are read).
    await writeSettings(b, { relayUrl: suite.relay.url, apiKey: alice.secret, notifications: false });
    const page = await b.open('options.html');
    await expect.poll(() => page.locator('#apiKey').inputValue()).toBe(alice.secret);
    expect(await page.locator('#apiKey-identity').count()).toBe(0);
    await page.getByRole('button', { name: TEXT.options.test }).click();
    const identity = page.locator('#apiKey-identity');
    await expect.poll(() => identity.count(), { timeout: 10_000 }).toBe(1);
    expect(await identity.innerText()).toContain('Alice (replier)');
    expect(await identity.innerText()).toBe(TEXT.options.identity('Alice', 'replier'));
    // The test's own messages are as they always were.
    expect(await page.locator('ul.messages li').allInnerTexts()).toEqual([
      TEXT.options.testOk(TEXT.concurStates.ok),
      TEXT.options.testCounts(SEEDED, 0, 0),
    ]);

    await page.getByRole('button', { name: TEXT.options.save }).click();
    const me = { name: 'Alice', role: 'replier', prefix: alice.key.prefix };
    await expect.poll(async () => (await extensionStorage(b)).settings, { timeout: 10_000 }).toMatchObject({ apiKey: alice.secret, me });
    expect(await identity.innerText()).toBe(TEXT.options.identity('Alice', 'replier'));
    await page.close();
  });

  it('a reply made with Alice’s key shows "by Alice" in the popup', async () => {
    popup = await ext().open('popup.html');
    const pending = popup.locator('#panel-pending li[data-id]');
    // The tab's count, not the rows drawn: the list draws only the rows in view, and with the
    // member directory's answer on each row (sandbox mode asks its demo one) not all twelve fit.
    await expect.poll(() => popup.locator('#tab-pending .count').innerText(), { timeout: 10_000 }).toBe(String(SEEDED));
    await expect.poll(() => pending.count(), { timeout: 10_000 }).toBeGreaterThan(0);
    // A replier sees the buttons and no note.
    expect(await popup.locator('[data-note="cannot-reply"]').count()).toBe(0);
    const target = pending.filter({ has: popup.locator('[data-primary][data-code="CRSUC"]') }).first();
    const id = (await target.getAttribute('data-id'))!;
    await target.locator('[data-primary]').click();

    // Concur (the sandbox) takes it; the relay says who asked for it.
    await eventually(async () => (await requestById(id)).reply?.state === 'sent', 15_000);
    expect((await requestById(id)).reply?.requestedBy).toBe('Alice');
    await popup.locator('#tab-connected').click();
    const by = popup.locator(`#panel-connected ${rowSelector(id)} .reply-by`);
    await expect.poll(() => by.count(), { timeout: 15_000 }).toBe(1);
    // (How long ago is the popup's clock's business: only who asked is checked.)
    expect(await by.innerText()).toMatch(/^Connected by Alice · /);
    await popup.close();
  });

  it('with a viewer’s key the popup has no reply buttons, and says why once', async () => {
    // Stored without whose key it is (as before the options page kept it): the popup asks the relay.
    await writeSettings(ext(), { relayUrl: suite.relay.url, apiKey: bob.secret, notifications: false });
    popup = await ext().open('popup.html');
    await expect.poll(() => popup.locator('#tab-pending .count').innerText(), { timeout: 10_000 }).toBe(String(SEEDED - 1));
    await expect.poll(() => popup.locator('#panel-pending li[data-id]').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    const note = popup.locator('[data-note="cannot-reply"]');
    await expect.poll(() => note.count(), { timeout: 10_000 }).toBe(1);
    expect(await note.innerText()).toBe(POPUP_TEXT.cannotReply('Bob'));
    expect(await popup.locator('[data-code], .btn-more').count()).toBe(0);
    // Bob still sees who replied.
    await popup.locator('#tab-connected').click();
    const replies = popup.locator('#panel-connected .reply-by');
    await expect.poll(() => replies.count(), { timeout: 10_000 }).toBe(1);
    expect(await replies.innerText()).toMatch(/^Connected by Alice · /);
    expect(await popup.locator('[data-code], .btn-more').count()).toBe(0);
    expect(await note.count()).toBe(1);
  });

  it('Bob’s key revoked while the popup is open: the popup shows the key refused, and so does the badge', async () => {
    const b = ext();
    await popup.locator('#tab-pending').click();
    suite.relay.store.keys.revoke(bob.key.id, CLI);
    // Whichever hears of it first: the live stream (when the relay closes a revoked key's streams)
    // or the popup's next call, here a refresh (gone already if the stream got there first).
    await popup
      .locator('[data-action="refresh"]')
      .click({ timeout: 2_000 })
      .catch(() => undefined);
    const refused = popup.locator('.state-error[data-problem="key_refused"]');
    await expect.poll(() => refused.count(), { timeout: 15_000 }).toBe(1);
    expect(await refused.innerText()).toContain(PROBLEM_TEXTS.key_refused.message);
    expect(await popup.locator('li[data-id]').count()).toBe(0);
    // Nothing more comes with that key: the live mark says so.
    expect(await popup.locator('.live').getAttribute('class')).toContain('live-down');
    expect(await badgeShownAt(b, PROBLEM_TEXTS.key_refused.badge, 15_000)).not.toBeNull();
    await popup.close();
  });
});
