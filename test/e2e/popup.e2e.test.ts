import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../relay/base/config.js';
import { createLogger } from '../../relay/base/log.js';
import { startRelay, type RunningRelay } from '../../relay/boot/runtime.js';
import { startSandbox, type RunningSandbox } from '../../relay/sandbox/server.js';
import { ConnectionRequest, RequestsPage } from '../../shared/models.js';
import { groupLists } from '../../extension/popup/lists.js';
import { eventually } from '../helpers/relay-process.js';
import { TEST_VAULT_KEY } from '../helpers/vault.js';
import { freePort, launchExtensionWithoutPages, writeSettings, type ExtensionBrowser } from './browser.js';

/**
 * The popup with 1,000 pending requests in a real Chromium: a windowed list, so only a window of
 * rows is in the DOM, and everything that must still hold with real layout, real scrolling and
 * real focus: every row reachable by keyboard and by a notification's link, rows of any height
 * never overlapping, the list's size told to screen readers.
 *
 * A relay in its Concur mode against a sandbox seeded with exactly 1,000 pending requests (as the
 * popup benchmark does), the built extension configured for it as the options page stores it.
 */

const PENDING = 1000;
const API_KEY = 'e2e-popup-key-0123456789abcdef';
/** Rows a 600 px popup may hold in its DOM: the visible ones and a few more (RequestList's overscan). */
const MAX_ROWS = 40;

let sandbox: RunningSandbox | undefined;
let relay: RunningRelay | undefined;
let browser: ExtensionBrowser | undefined;
let dir: string | undefined;
/** The pending requests in the popup's order (newest first, as extension/popup/lists.ts sorts them). */
let order: ConnectionRequest[] = [];
let setupError: unknown;

async function allPending(url: string): Promise<ConnectionRequest[]> {
  const items: ConnectionRequest[] = [];
  let cursor: string | null = null;
  do {
    const res = await fetch(`${url}/api/v1/requests?group=pending&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    const page = RequestsPage.parse(await res.json());
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return items;
}

beforeAll(async () => {
  try {
    dir = mkdtempSync(join(tmpdir(), 'triplink-e2e-popup-'));
    sandbox = await startSandbox({ seed: PENDING, random: 20_240_501 });
    const parsed = parseConfig({
      CONCUR_BASE_URL: sandbox.url,
      CONCUR_ACCESS_TOKEN: sandbox.accessToken,
      // The partner's credentials: without them the relay cannot exchange request tokens, and
      // Connected is offered disabled (422 exchange_unavailable), so no row has a reply to click.
      CONCUR_CLIENT_ID: sandbox.clientId,
      CONCUR_CLIENT_SECRET: sandbox.clientSecret,
      RELAY_API_KEYS: API_KEY,
      RELAY_HOST: '127.0.0.1',
      RELAY_PORT: String(await freePort()),
      RELAY_DB: join(dir, 'relay.sqlite'),
      // Outside sandbox mode the relay needs its vault key (it seals every token it keeps).
      RELAY_VAULT_KEY: TEST_VAULT_KEY,
      // One sweep at start; the tests' own reply is shown by the relay's reply state, not by a poll.
      POLL_INTERVAL_SECONDS: '3600',
    });
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const quiet = new Writable({ write: (_chunk, _enc, done) => done() });
    relay = await startRelay(parsed.config, { logger: createLogger({ destination: quiet, level: 'warn' }) });
    const url = relay.url;
    await eventually(async () => (await allPending(url)).length === PENDING, 30_000);
    order = groupLists(new Map((await allPending(url)).map((r) => [r.id, r]))).pending.slice();
    // The options page the extension opens when installed is waited for and closed first: opened
    // later, it could take over the tab of a test's own page.
    browser = await launchExtensionWithoutPages();
    await writeSettings(browser, { relayUrl: url, apiKey: API_KEY, notifications: false });
    for (const page of browser.context.pages()) if (page.url().startsWith('chrome-extension://')) await page.close();
  } catch (err) {
    setupError = err;
  }
});

afterAll(async () => {
  await browser?.close();
  await relay?.close();
  await sandbox?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  if (setupError !== undefined) throw setupError;
});

const ext = (): ExtensionBrowser => browser!;

interface RowBox {
  id: string;
  position: number;
  setSize: number;
  top: number;
  bottom: number;
}

/** The rendered rows with their place in the list and their box, and the panel's visible box. */
async function layout(page: Page): Promise<{ rows: RowBox[]; panel: { top: number; bottom: number } }> {
  return page.evaluate(() => {
    const panel = document.querySelector('.panel')!.getBoundingClientRect();
    const rows = [...document.querySelectorAll<HTMLElement>('#panel-pending li[data-id]')].map((li) => {
      const box = li.getBoundingClientRect();
      return {
        id: li.dataset.id!,
        position: Number(li.getAttribute('aria-posinset')),
        setSize: Number(li.getAttribute('aria-setsize')),
        top: box.top,
        bottom: box.bottom,
      };
    });
    return { rows, panel: { top: panel.top, bottom: panel.bottom } };
  });
}

/** Rows in DOM order never overlap, and the visible part of the panel is covered by rows without a hole. */
function expectNoOverlapAndCovered(view: Awaited<ReturnType<typeof layout>>, listBottom = Infinity) {
  const { rows, panel } = view;
  for (let i = 1; i < rows.length; i++) expect(rows[i]!.top, `row ${rows[i]!.position} under row ${rows[i - 1]!.position}`).toBeGreaterThanOrEqual(rows[i - 1]!.bottom - 0.5);
  const visible = rows.filter((r) => r.bottom > panel.top && r.top < panel.bottom).sort((a, b) => a.top - b.top);
  expect(visible.length).toBeGreaterThan(3);
  expect(visible[0]!.top).toBeLessThanOrEqual(panel.top + 0.5);
  for (let i = 1; i < visible.length; i++) {
    expect(visible[i]!.top - visible[i - 1]!.bottom, 'a hole between visible rows').toBeLessThan(0.5);
    expect(visible[i]!.position).toBe(visible[i - 1]!.position + 1);
  }
  expect(visible.at(-1)!.bottom).toBeGreaterThanOrEqual(Math.min(panel.bottom, listBottom) - 0.5);
}

const focusedRow = (page: Page) =>
  page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (el === null || !el.matches('li[data-id]')) return null;
    const box = el.getBoundingClientRect();
    const panel = document.querySelector('.panel')!.getBoundingClientRect();
    return {
      id: el.dataset.id!,
      position: Number(el.getAttribute('aria-posinset')),
      tabIndex: el.tabIndex,
      inView: box.top >= panel.top - 0.5 && box.bottom <= panel.bottom + 0.5,
    };
  });

async function openPopup(hash = ''): Promise<Page> {
  const page = await ext().open(`popup.html${hash}`);
  await expect.poll(() => page.locator('#tab-pending .count').innerText(), { timeout: 15_000 }).toBe(String(PENDING));
  await page.locator('#panel-pending li[data-id]').first().waitFor();
  return page;
}

describe('the popup with 1,000 pending requests', () => {
  it('keeps only a window of rows in the DOM, each telling its place among 1,000, without overlap or hole', async () => {
    const page = await openPopup();
    const view = await layout(page);
    expect(view.rows.length).toBeGreaterThan(5);
    expect(view.rows.length).toBeLessThanOrEqual(MAX_ROWS);
    expect(view.rows.every((r) => r.setSize === PENDING)).toBe(true);
    expect(view.rows.map((r) => r.id)).toEqual(order.slice(0, view.rows.length).map((r) => r.id));
    expect(view.rows.map((r) => r.position)).toEqual(view.rows.map((_, i) => i + 1));
    expectNoOverlapAndCovered(view);
    expect(await page.locator('#panel-pending ul[role="list"]').getAttribute('aria-label')).toBeTruthy();
    await page.close();
  });

  it('moves through every row with the keyboard: End, Home, j/k and arrows, the focused row always in view', async () => {
    const page = await openPopup();
    await page.locator('#panel-pending li[data-id]').first().focus();
    await page.keyboard.press('End');
    expect(await focusedRow(page)).toEqual({ id: order[PENDING - 1]!.id, position: PENDING, tabIndex: 0, inView: true });
    await page.keyboard.press('k');
    expect(await focusedRow(page)).toMatchObject({ id: order[PENDING - 2]!.id, inView: true });
    await page.keyboard.press('Home');
    expect(await focusedRow(page)).toEqual({ id: order[0]!.id, position: 1, tabIndex: 0, inView: true });
    for (let i = 0; i < 25; i++) await page.keyboard.press(i % 2 === 0 ? 'j' : 'ArrowDown');
    expect(await focusedRow(page)).toEqual({ id: order[25]!.id, position: 26, tabIndex: 0, inView: true });
    expectNoOverlapAndCovered(await layout(page));
    expect((await layout(page)).rows.length).toBeLessThanOrEqual(MAX_ROWS);
    await page.close();
  });

  it('scrolling brings the rows further down, in order and without a hole; the list ends with the last request', async () => {
    const page = await openPopup();
    await page.locator('.panel').evaluate((panel) => (panel.scrollTop = panel.scrollHeight / 2));
    await expect.poll(async () => (await layout(page)).rows.some((r) => r.position > 400 && r.position < 600)).toBe(true);
    const middle = await layout(page);
    expectNoOverlapAndCovered(middle);
    expect(middle.rows.length).toBeLessThanOrEqual(MAX_ROWS);
    for (const r of middle.rows) expect(r.id).toBe(order[r.position - 1]!.id);

    await page.locator('.panel').evaluate((panel) => (panel.scrollTop = panel.scrollHeight));
    await expect.poll(async () => (await layout(page)).rows.some((r) => r.position === PENDING)).toBe(true);
    // Measured heights replace estimates on the way: the end of the list is where it belongs.
    await expect
      .poll(async () => {
        const { rows, panel } = await layout(page);
        const last = rows.find((r) => r.position === PENDING);
        return last !== undefined && Math.abs(last.bottom - panel.bottom) < 2 ? 'at the bottom' : JSON.stringify(last);
      })
      .toBe('at the bottom');
    expectNoOverlapAndCovered(await layout(page));

    // Back up, past rows never measured: in order, no hole, and the top is the first request.
    for (let step = 0; step < 6; step++) {
      await page.locator('.panel').evaluate((panel) => (panel.scrollTop -= 1500));
      await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
      expectNoOverlapAndCovered(await layout(page));
    }
    await page.locator('.panel').evaluate((panel) => (panel.scrollTop = 0));
    await expect.poll(async () => (await layout(page)).rows[0]?.position).toBe(1);
    const top = await layout(page);
    expect(Math.abs(top.rows[0]!.top - top.panel.top)).toBeLessThan(2);
    await page.close();
  });

  it('rows that grow (the "More" replies opened) push the others down, never over them', async () => {
    const page = await openPopup();
    await page.locator('.panel').evaluate((panel) => (panel.scrollTop = 300 * 70));
    await expect.poll(async () => (await layout(page)).rows.some((r) => r.position > 250)).toBe(true);
    const before = await layout(page);
    const visible = before.rows.filter((r) => r.top >= before.panel.top && r.bottom <= before.panel.bottom);
    const target = visible[1]!;
    const item = page.locator(`li[data-id=${JSON.stringify(target.id)}]`);
    await item.locator('.btn-more').click();
    await expect.poll(() => item.locator('.more [data-code]').count()).toBeGreaterThan(3);
    const after = await layout(page);
    const grown = after.rows.find((r) => r.id === target.id)!;
    expect(grown.bottom - grown.top).toBeGreaterThan(target.bottom - target.top + 60);
    // It opened where it was: the view did not jump.
    expect(Math.abs(grown.top - target.top)).toBeLessThan(2);
    const next = after.rows.find((r) => r.position === target.position + 1)!;
    expect(next.top).toBeGreaterThanOrEqual(grown.bottom - 0.5);
    expectNoOverlapAndCovered(after);
    // Scrolled on and back, it is still open and still pushes the next one down.
    await page.locator('.panel').evaluate((panel) => (panel.scrollTop += 2000));
    await page.locator('.panel').evaluate((panel) => (panel.scrollTop -= 2000));
    await expect.poll(async () => (await layout(page)).rows.some((r) => r.id === target.id)).toBe(true);
    // The window draws the rows around it in the next frames (the target may come first): wait for them.
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    expectNoOverlapAndCovered(await layout(page));
    await page.close();
  });

  it('a row above the view that grows (or a new height learnt there) does not move the rows in view', async () => {
    const page = await openPopup();
    await page.locator('.panel').evaluate((panel) => (panel.scrollTop = 500 * 70));
    await expect.poll(async () => (await layout(page)).rows.some((r) => r.position > 400)).toBe(true);
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    const before = await layout(page);
    const firstVisible = before.rows.find((r) => r.bottom > before.panel.top + 1)!;
    const above = before.rows.filter((r) => r.bottom <= before.panel.top).at(-1);
    expect(above, 'a rendered row above the view').toBeDefined();
    // Its "More" opened (a click from script: the focus stays where it is).
    await page.locator(`li[data-id=${JSON.stringify(above!.id)}] .btn-more`).evaluate((button: HTMLElement) => button.click());
    await expect.poll(() => page.locator(`li[data-id=${JSON.stringify(above!.id)}] .more`).count()).toBe(1);
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    const after = await layout(page);
    const same = after.rows.find((r) => r.id === firstVisible.id)!;
    expect(Math.abs(same.top - firstVisible.top)).toBeLessThan(2);
    expectNoOverlapAndCovered(after);
    await page.close();
  });

  it('#request=<id> of the 900th request opens the popup on that row, focused and in view', async () => {
    const target = order[899]!;
    const page = await ext().open(`popup.html#request=${encodeURIComponent(target.id)}`);
    await expect.poll(() => focusedRow(page), { timeout: 15_000 }).toEqual({ id: target.id, position: 900, tabIndex: 0, inView: true });
    expect((await layout(page)).rows.length).toBeLessThanOrEqual(MAX_ROWS);
    expectNoOverlapAndCovered(await layout(page));
    await page.close();
  });

  it('search finds a request far down the list, accents aside', async () => {
    const target = order[950]!;
    const page = await openPopup();
    // Typed without accents: "Zoe" finds "Zoë". The loyalty number makes it that one request.
    const name = `${target.firstName ?? ''} ${target.lastName ?? ''}`.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
    await page.locator('input[type="search"]').fill(`${name} ${target.loyaltyNumber ?? ''}`.trim());
    await expect.poll(async () => (await layout(page)).rows.map((r) => r.id)).toContain(target.id);
    await page.close();
  });

  it('one click on a row far down replies for that request', async () => {
    const page = await openPopup();
    await page.locator('#panel-pending li[data-id]').first().focus();
    await page.keyboard.press('End');
    const focused = await focusedRow(page);
    const id = focused!.id;
    const item = page.locator(`li[data-id=${JSON.stringify(id)}]`);
    await item.locator('[data-primary]').click();
    await expect.poll(() => page.locator(`#panel-pending li[data-id=${JSON.stringify(id)}]`).count(), { timeout: 15_000 }).toBe(0);
    await expect.poll(() => page.locator('#tab-pending .count').innerText(), { timeout: 15_000 }).toBe(String(PENDING - 1));
    await page.close();
  });
});
