import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../relay/base/config-shape.js';
import type { RunningRelay } from '../../relay/boot/runtime.js';
import type { RunningSandbox } from '../../relay/sandbox/server.js';
import { Summary } from '../../shared/models.js';
import { GROUPS } from '../../shared/status.js';
import { BACKGROUND_TEXT, POPUP_TEXT, PROBLEM_TEXTS, TEXT } from '../../extension/lib/texts.js';
import { eventually } from '../helpers/relay-process.js';
import {
  extensionStorage,
  freePort,
  grantedOrigins,
  launchExtension,
  notificationIds,
  readAlarm,
  readBadge,
  rowSelector,
  sandboxRelayConfig,
  startSandboxRelay,
  type ExtensionBrowser,
} from './browser.js';

/**
 * The extension as a user meets it: built by WXT, loaded into a real (headless) Chromium, talking
 * to a real relay in sandbox mode on loopback. The tests run in order and share one browser and
 * one relay: set up, read, reply, a new arrival, screenshots, then the relay going away and back.
 *
 * Nothing here reaches into the extension beyond what the browser shows (pages, badge, tooltip,
 * notifications, storage). Refreshes come the product's own ways: saving the options, the
 * popup's reply (which messages the background), the relay's live events that the background
 * follows, and the 30-second alarm.
 */

const API_KEY = 'e2e-relay-key-0123456789abcdef';
const SEEDED = 12; // what the sandbox seeds (relay/sandbox/README.md)
const SCREENSHOTS = join('test', 'e2e', 'screenshots');
/** A request's notification id (extension/background/notifications.ts, requestNotificationId). */
const notificationId = (requestId: string) => `triplink:${requestId}`;
const row = rowSelector;

let config: RelayConfig;
let relay: RunningRelay;
let browser: ExtensionBrowser | undefined;
let popup: Page;
const relayLogs: string[] = [];

// Nothing arrives in the sandbox unless a test adds it.
const startTheRelay = (): Promise<RunningRelay> => startSandboxRelay(config, relayLogs);

const sandbox = (): RunningSandbox => {
  if (relay.sandbox === null) throw new Error('the relay is not in sandbox mode');
  return relay.sandbox;
};

async function summary(): Promise<Summary> {
  const res = await fetch(`${relay.url}/api/v1/summary`, { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(res.status).toBe(200);
  return Summary.parse(await res.json());
}

const ext = (): ExtensionBrowser => {
  if (browser === undefined) throw new Error('the browser did not start (see the first failure)');
  return browser;
};

/** Waits until the badge shows `text` and returns badge and tooltip, or fails saying what it showed last. */
async function badgeShows(text: string, timeoutMs = 15_000) {
  let last = { text: '', title: '' };
  try {
    return await eventually(async () => {
      last = await readBadge(ext());
      return last.text === text && last;
    }, timeoutMs);
  } catch {
    throw new Error(`the badge did not show ${JSON.stringify(text)} within ${timeoutMs} ms; it shows ${JSON.stringify(last)}`);
  }
}

const tabCount = async (page: Page, group: string) => (await page.locator(`#tab-${group} .count`).innerText()).trim();

/**
 * A setup failure (above all: no Chromium) fails every test with its message. Thrown from
 * beforeAll it would only mark them skipped, and a skipped browser test reads like a green run.
 */
let setupError: unknown;

beforeAll(async () => {
  try {
    // A fixed port, picked once: the relay restarted in the last test listens where the extension looks.
    config = sandboxRelayConfig(API_KEY, await freePort());
    relay = await startTheRelay();
    // The relay has swept the sandbox once before the extension meets it.
    await eventually(() => relay.store.requests.counts().pending === SEEDED);
    browser = await launchExtension();
  } catch (err) {
    setupError = err;
  }
});

afterAll(async () => {
  await browser?.close();
  await relay?.close();
});

beforeEach((context) => {
  if (setupError !== undefined) throw setupError;
  context.onTestFailed(() => {
    console.error(`relay log (last 40 lines):\n${relayLogs.slice(-40).join('\n')}`);
  });
});

describe('the extension in Chromium against a sandbox relay', () => {
  it('opens its options page on install; Save there stores the normalised address, Test connection shows the relay and Concur', async () => {
    const b = ext();
    // Before anything is set, the badge says so.
    expect(await badgeShows(PROBLEM_TEXTS.not_configured.badge)).toMatchObject({ title: PROBLEM_TEXTS.not_configured.title });

    // Installed with nothing set, the extension opens its options page by itself.
    const isOptions = (page: Page) => page.url() === `chrome-extension://${b.extensionId}/options.html`;
    // (Polled: a new tab may still show about:blank when Playwright first reports it.)
    const page = await eventually(() => b.context.pages().find(isOptions), 10_000).catch(() => {
      throw new Error(`the extension did not open its options page on install; tabs: ${b.context.pages().map((p) => p.url()).join(', ')}`);
    });
    await page.locator('#relayUrl').waitFor();
    const port = new URL(relay.url).port;
    // Typed the short way a user would: no scheme; the page makes it http://127.0.0.1:<port>.
    await page.locator('#relayUrl').pressSequentially(`127.0.0.1:${port}`);
    await page.locator('#apiKey').fill(API_KEY); // pasted
    expect([await page.locator('#relayUrl').inputValue(), await page.locator('#apiKey').inputValue()]).toEqual([`127.0.0.1:${port}`, API_KEY]);
    await expect.poll(() => page.locator('#notifications').isChecked()).toBe(true);
    const messages = page.locator('ul.messages li');

    // Save asks for host access to 127.0.0.1 during the click. Headless Chromium never answers
    // that prompt (the promise stays pending); saving does not wait for it.
    await page.getByRole('button', { name: TEXT.options.save }).click();
    // (Chromium 156 keeps it pending; were it refused at once, the page would add its note on CORS.)
    const tested = [TEXT.options.saved, TEXT.options.testOk(TEXT.concurStates.ok), TEXT.options.testCounts(SEEDED, 0, 0)];
    const withoutAccessNote = async () => (await messages.allInnerTexts()).filter((text) => text !== TEXT.options.permissionDenied);
    await expect.poll(withoutAccessNote, { timeout: 10_000 }).toEqual(tested);
    await expect.poll(() => page.locator('#relayUrl').inputValue()).toBe(relay.url);
    expect(await extensionStorage(b)).toMatchObject({ settings: { relayUrl: relay.url, apiKey: API_KEY, notifications: true } });
    // No host access was granted: everything below works through the relay's CORS.
    expect(await grantedOrigins(b)).toEqual([]);

    await page.getByRole('button', { name: TEXT.options.test }).click();
    await expect
      .poll(() => messages.allInnerTexts(), { timeout: 10_000 })
      .toEqual([TEXT.options.testOk(TEXT.concurStates.ok), TEXT.options.testCounts(SEEDED, 0, 0)]);

    // Saving made the background refresh: the badge counts what waits.
    expect(await badgeShows(String(SEEDED))).toEqual({ text: String(SEEDED), title: BACKGROUND_TEXT.badgeTitle(SEEDED) });
    await page.close();
  });

  it('lists the pending requests in the popup, with the counts of GET /api/v1/summary on the tabs', async () => {
    popup = await ext().open('popup.html');
    await expect.poll(() => popup.locator('#tab-pending .count').innerText(), { timeout: 10_000 }).toBe(String(SEEDED));
    // The list draws only the rows in view (with the member directory's answer on each, not all
    // twelve fit): scrolled through, it shows every one.
    const shown = await popup.locator('.panel').evaluate(async (panel) => {
      const ids = new Set<string>();
      for (let top = 0; ; top += 100) {
        panel.scrollTop = top;
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        for (const li of panel.querySelectorAll('#panel-pending li[data-id]')) ids.add(li.getAttribute('data-id')!);
        if (top >= panel.scrollHeight - panel.clientHeight) break;
      }
      panel.scrollTop = 0;
      return [...ids];
    });
    const pendingInSandbox = sandbox()
      .state.all()
      .filter((r) => r.status === 'Pending')
      .map((r) => r.id);
    expect(new Set(shown)).toEqual(new Set(pendingInSandbox));

    const counts = (await summary()).counts;
    expect(counts).toMatchObject({ pending: SEEDED, failed: 0, connected: 0 });
    for (const group of GROUPS) expect(await tabCount(popup, group), `the ${group} tab`).toBe(String(counts[group]));
    expect(await popup.locator('#tab-pending').getAttribute('aria-selected')).toBe('true');
    expect((await readBadge(ext())).text).toBe(String(counts.pending));
  });

  it('one click on "Connected" sends CRSUC for that request only, moves it to Connected and lowers the badge', async () => {
    const b = ext();
    sandbox().calls.clear();
    // The first row whose one-click reply is "Connected" (rows with an expired token offer a new token first).
    const target = popup
      .locator('#panel-pending li[data-id]')
      .filter({ has: popup.locator('[data-primary][data-code="CRSUC"]') })
      .first();
    const id = (await target.getAttribute('data-id'))!;
    const name = (await target.locator('.name').innerText()).trim();
    const button = target.locator('[data-primary]');
    expect((await button.innerText()).trim()).toBe(TEXT.primaryReply);
    await button.click();

    // Concur (the sandbox) got exactly one PUT: CRSUC for this id, answered 204.
    const puts = () => sandbox().calls.list().filter((call) => call.route === 'put');
    await eventually(() => puts().some((call) => call.status === 204), 15_000);
    expect(puts().map(({ requestId, putStatus, status }) => ({ requestId, putStatus, status }))).toEqual([
      { requestId: id, putStatus: 'CRSUC', status: 204 },
    ]);
    expect(sandbox().state.get(id)?.status).toBe('Connected');

    // The popup follows: gone from Pending, listed under Connected, counts as the relay's.
    await expect.poll(() => popup.locator(`#panel-pending ${row(id)}`).count(), { timeout: 15_000 }).toBe(0);
    await expect.poll(() => tabCount(popup, 'connected'), { timeout: 15_000 }).toBe('1');
    await expect
      .poll(() => popup.locator('[data-live="status"]').innerText(), { timeout: 15_000 })
      .toBe(POPUP_TEXT.announceAccepted(TEXT.primaryReply, name));
    await popup.locator('#tab-connected').click();
    await expect.poll(() => popup.locator(`#panel-connected ${row(id)}`).count()).toBe(1);
    const counts = (await summary()).counts;
    expect(counts).toMatchObject({ pending: SEEDED - 1, connected: 1, failed: 0 });
    for (const group of GROUPS) expect(await tabCount(popup, group), `the ${group} tab`).toBe(String(counts[group]));

    // The badge is the new pending count.
    expect(await badgeShows(String(counts.pending))).toEqual({ text: String(counts.pending), title: BACKGROUND_TEXT.badgeTitle(counts.pending) });
    await popup.locator('#tab-pending').click();
    expect(await notificationIds(b)).toEqual([]);
  });

  it('a new request in Concur raises the badge by one and shows exactly one notification, naming it', async () => {
    const b = ext();
    const before = Number((await readBadge(b)).text);
    expect(before).toBe((await summary()).counts.pending);
    const added = sandbox().state.add({ firstName: 'Ada', middleName: null, lastName: 'Lovelace' });

    // The relay's poller finds it and announces it as a live event; the background refreshes.
    await badgeShows(String(before + 1));
    await eventually(async () => (await notificationIds(b)).length > 0, 10_000);
    expect(await notificationIds(b)).toEqual([notificationId(added.id)]);
    // And the open popup lists it, live.
    await expect.poll(() => popup.locator(`#panel-pending ${row(added.id)}`).count(), { timeout: 10_000 }).toBe(1);
    await expect.poll(() => tabCount(popup, 'pending')).toBe(String(before + 1));
    // Still exactly one a moment later (no second announcement from a later refresh).
    await new Promise((r) => setTimeout(r, 1500));
    expect(await notificationIds(b)).toEqual([notificationId(added.id)]);
  });

  it('screenshots: the popup in light and dark, and the options page', async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    // A fresh popup: no focus ring or hover left from the clicks above.
    await popup.reload();
    await expect.poll(() => popup.locator('#tab-pending .count').innerText(), { timeout: 10_000 }).toBe(String(SEEDED));
    await popup.locator('#panel-pending li[data-id]').first().waitFor();
    await popup.mouse.move(0, 0);
    for (const colorScheme of ['light', 'dark'] as const) {
      await popup.emulateMedia({ colorScheme });
      // The popup itself (400 × 580), as the toolbar button shows it.
      await popup.locator('.popup').screenshot({ path: join(SCREENSHOTS, `popup-${colorScheme}.png`) });
    }
    await popup.close();

    const options = await ext().open('options.html');
    await options.setViewportSize({ width: 720, height: 640 });
    await expect.poll(() => options.locator('#relayUrl').inputValue()).toBe(relay.url);
    await options.getByRole('button', { name: TEXT.options.test }).click();
    await expect.poll(() => options.locator('ul.messages li').count(), { timeout: 10_000 }).toBe(2);
    await options.mouse.move(0, 0);
    await options.screenshot({ path: join(SCREENSHOTS, 'options.png') });
    await options.close();
  });

  it('the relay stopping shows the error mark; started again on the same port and database, the badge recovers by itself', async () => {
    const b = ext();
    // Only the background may follow the relay from here on: no popup or options page is open.
    for (const page of b.context.pages()) if (page.url().startsWith('chrome-extension://')) await page.close();
    await relay.close();
    const stoppedAt = Date.now();
    // The background's live-events stream ends; its reconnect fails and it refreshes: unreachable.
    const down = await badgeShows(PROBLEM_TEXTS.unreachable.badge, 20_000);
    expect(down.title).toBe(PROBLEM_TEXTS.unreachable.title);
    const noticedMs = Date.now() - stoppedAt;

    // The alarm's next firing, read before the restart: a recovery before it cannot be its work.
    const alarm = await readAlarm(b, 'refresh');
    expect(alarm?.periodInMinutes).toBe(0.5);
    relay = await startTheRelay();
    const restartedAt = Date.now();

    // Nothing is sent to the extension: it recovers through its live-events reconnect (backoff
    // from 3 s) or, failing that, its 30-second alarm.
    let shown = down;
    await eventually(async () => {
      shown = await readBadge(b);
      return /^\d+$/.test(shown.text);
    }, 40_000).catch(() => {
      throw new Error(`the badge did not recover within 40 s; it shows ${JSON.stringify(shown)}`);
    });
    const recoveredAt = Date.now();
    const beforeAlarm = alarm !== null && recoveredAt < alarm.scheduledTime;
    console.info(
      `relay stop noticed in ${noticedMs} ms; the badge recovered ${recoveredAt - restartedAt} ms after the restart, ` +
        (alarm !== null && beforeAlarm
          ? `${Math.round(alarm.scheduledTime - recoveredAt)} ms before the alarm's next firing: the live-events reconnect brought it back`
          : 'after the alarm fired: the alarm (or the live-events reconnect) brought it back'),
    );
    // The background follows the relay's live events again (the popup is closed: it is the only client).
    const sseClients = async () =>
      Number(/^triplink_sse_clients (\d+)$/m.exec(await (await fetch(`${relay.url}/metrics`)).text())?.[1] ?? NaN);
    await expect.poll(sseClients, { timeout: 20_000 }).toBe(1);
    // The count is the restarted relay's own, once its poller has swept the (new) sandbox.
    let pending = -1;
    await eventually(async () => {
      pending = (await summary()).counts.pending;
      return (await readBadge(b)).text === String(pending);
    }, 20_000);
    expect(await readBadge(b)).toEqual({ text: String(pending), title: BACKGROUND_TEXT.badgeTitle(pending) });
  });
});
