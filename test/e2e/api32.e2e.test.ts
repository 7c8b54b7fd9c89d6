import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { RequestsPage } from '../../shared/models.js';
import { POPUP_TEXT } from '../../extension/lib/texts.js';
import { eventually } from '../helpers/relay-process.js';
import { rowSelector, writeSettings } from './browser.js';
import { sandboxSuite } from './sandbox-suite.js';

/**
 * The popup in a real Chromium against a relay in sandbox mode under CONCUR_API_VERSION=3.2: the
 * sandbox's 3.2 queue sends each traveller's e-mail addresses and the relay keeps 3.2's retry
 * limits (48 CRRET, 4 CREU) on each request. The popup shows the addresses, and Concur's
 * allowance in the "More" group; once a CRRET went through, on the row itself.
 */

const ADMIN_KEY = 'e2e-api32-key-0123456789abcdef';
const SEEDED = 12; // what the sandbox seeds (relay/sandbox/README.md)

const { ext, api, requestById } = sandboxSuite(ADMIN_KEY, { apiVersion: '3.2' }, async (relay, browser) => {
  await eventually(() => relay.store.requests.counts().pending === SEEDED);
  await writeSettings(browser, { relayUrl: relay.url, apiKey: ADMIN_KEY, notifications: false });
});

async function openPopup(): Promise<Page> {
  const popup = await ext().open('popup.html');
  await expect.poll(() => popup.locator('#tab-pending .count').innerText(), { timeout: 10_000 }).toBe(String(SEEDED));
  return popup;
}

describe('API 3.2 in Chromium against a sandbox relay', () => {
  it('a row shows the traveller’s e-mail addresses, and "More" the retry allowance: 0 of 48, 0 of 4', async () => {
    const res = await api('/api/v1/requests?group=pending&limit=50');
    const pending = RequestsPage.parse(await res.json()).items;
    expect(pending).toHaveLength(SEEDED);
    // The sandbox's 3.2 travellers have one or two addresses each; the relay kept them.
    expect(pending.every((r) => r.emailAddresses.length > 0 && r.retryLimit === 48 && r.userErrorLimit === 4)).toBe(true);

    const popup = await openPopup();
    const first = popup.locator('#panel-pending li[data-id]').first();
    const id = (await first.getAttribute('data-id'))!;
    const r = await requestById(id);
    const emails = first.locator('.emails');
    expect(await emails.innerText()).toBe(r.emailAddresses.join(', '));
    expect(await emails.innerText()).toMatch(/@/);
    // Nothing spent yet: the row keeps quiet about it.
    expect(await first.locator('.retries').count()).toBe(0);

    await first.locator('.btn-more').click();
    const counts = first.locator('.more .counts');
    await counts.waitFor();
    expect(await counts.innerText()).toBe(`${POPUP_TEXT.retriesUsed(0, 48)} · ${POPUP_TEXT.userErrorsUsed(0, 4)}`);
    expect(await counts.innerText()).toContain('0 of 48 retries used');
    await popup.close();
  });

  it('after a CRRET Concur accepted, the row says "1 of 48 retries used"', async () => {
    const popup = await openPopup();
    const id = (await popup.locator('#panel-pending li[data-id]').first().getAttribute('data-id'))!;
    const res = await api(`/api/v1/requests/${encodeURIComponent(id)}/reply`, { method: 'POST', body: JSON.stringify({ status: 'CRRET' }) });
    expect(res.status).toBe(202);
    await eventually(async () => (await requestById(id)).retries === 1, 15_000);

    const row = popup.locator(`#panel-pending ${rowSelector(id)}`);
    await expect.poll(() => row.locator('.retries').count(), { timeout: 15_000 }).toBe(1);
    expect(await row.locator('.retries').innerText()).toBe(`${POPUP_TEXT.retriesUsed(1, 48)} · ${POPUP_TEXT.userErrorsUsed(0, 4)}`);
    await popup.close();
  });
});
