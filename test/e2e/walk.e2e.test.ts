import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../relay/base/config-shape.js';
import type { RunningRelay } from '../../relay/boot/runtime.js';
import type { RunningSandbox } from '../../relay/sandbox/server.js';
import { Summary } from '../../shared/models.js';
import { GROUPS } from '../../shared/status.js';
import { BACKGROUND_TEXT, POPUP_TEXT, PROBLEM_TEXTS, TEXT } from '../../extension/lib/texts.js';
import { eventually } from '../helpers/relay-process.js';
import { freePort, rowSelector as row, sandboxRelayConfig, startSandboxRelay } from './browser.js';
import { launchChromiumDriver } from './drivers/chromium.js';
import {
  attrOf,
  countOf,
  extensionStorage,
  grantedOrigins,
  isChecked,
  notificationIds,
  readAlarm,
  readBadge,
  textOf,
  textsOf,
  valueOf,
  type BrowserName,
  type ExtensionDriver,
  type ExtensionPage,
} from './drivers/driver.js';
import { launchFirefoxDriver } from './drivers/firefox.js';

/**
 * The extension as a user meets it, the same walk in Chromium (MV3 build) and in Firefox (MV2
 * build): built by WXT, loaded into the real (headless) browser, talking to a real relay in
 * sandbox mode on loopback. Each browser gets its own relay; the tests run in order and share it:
 * set up, read, reply, a new arrival, then the relay going away and back. Where the browsers
 * differ is said once, in drivers/driver.ts.
 *
 * Nothing here reaches into the extension beyond what the browser shows (pages, badge, tooltip,
 * notifications, storage). Refreshes come the product's own ways: saving the options, the
 * popup's reply (which messages the background), the relay's live events that the background
 * follows, and the 30-second alarm.
 */

const API_KEY = 'e2e-relay-key-0123456789abcdef';
const SEEDED = 12; // what the sandbox seeds (relay/sandbox/README.md)
/** A request's notification id (extension/background/notifications.ts, requestNotificationId). */
const notificationId = (requestId: string) => `triplink:${requestId}`;
const LAUNCH: Record<BrowserName, () => Promise<ExtensionDriver>> = { chromium: launchChromiumDriver, firefox: launchFirefoxDriver };

const pollOptions = { timeout: 15_000, interval: 50 };

function walk(name: BrowserName): void {
  // The hooks inside: each browser's relay and browser live while its own tests run, not longer.
  describe(`the extension in ${name} against a sandbox relay`, () => {
    let config: RelayConfig;
    let relay: RunningRelay;
    let driver: ExtensionDriver | undefined;
    let popup: ExtensionPage;
    const relayLogs: string[] = [];
    /** A setup failure (no browser) fails every test with its message: a skip would read like a green run. */
    let setupError: unknown;
    let startedAt = 0;

    // Nothing arrives in the sandbox unless a test adds it.
    const startTheRelay = (): Promise<RunningRelay> => startSandboxRelay(config, relayLogs);
    const sandbox = (): RunningSandbox => {
      if (relay.sandbox === null) throw new Error('the relay is not in sandbox mode');
      return relay.sandbox;
    };
    const ext = (): ExtensionDriver => {
      if (driver === undefined) throw new Error('the browser did not start (see the first failure)');
      return driver;
    };
    async function summary(): Promise<Summary> {
      const res = await fetch(`${relay.url}/api/v1/summary`, { headers: { authorization: `Bearer ${API_KEY}` } });
      expect(res.status).toBe(200);
      return Summary.parse(await res.json());
    }
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
    const tabCount = (page: ExtensionPage, group: string) => textOf(page, `#tab-${group} .count`);
    const pendingRows = (page: ExtensionPage) => countOf(page, '#panel-pending li[data-id]');

    beforeAll(async () => {
      startedAt = Date.now();
      try {
        // A fixed port, picked once: the relay restarted in the last test listens where the extension looks.
        config = sandboxRelayConfig(API_KEY, await freePort());
        relay = await startTheRelay();
        // The relay has swept the sandbox once before the extension meets it.
        await eventually(() => relay.store.requests.counts().pending === SEEDED);
        driver = await LAUNCH[name]();
      } catch (err) {
        setupError = err;
      }
    });

    afterAll(async () => {
      await driver?.close();
      await relay?.close();
      console.info(`the walk in ${name}: ${Date.now() - startedAt} ms, browser start and relay included`);
    });

    beforeEach((context) => {
      if (setupError !== undefined) throw setupError;
      context.onTestFailed(() => console.error(`relay log (last 40 lines):\n${relayLogs.slice(-40).join('\n')}`));
    });

    it('opens its options page on install; set by typing, Save stores the normalised address, Test connection shows the relay and Concur', async () => {
      const b = ext();
      // Before anything is set, the badge says so.
      expect(await badgeShows(PROBLEM_TEXTS.not_configured.badge)).toMatchObject({ title: PROBLEM_TEXTS.not_configured.title });

      // Installed with nothing set, the extension opens its options page by itself.
      const page = await b.installPage();
      expect(await page.href()).toBe(`${b.origin}/options.html`);
      await page.waitFor('#relayUrl');
      const port = new URL(relay.url).port;
      // Typed the short way a user would: no scheme; the page makes it http://127.0.0.1:<port>.
      await page.type('#relayUrl', `127.0.0.1:${port}`);
      await page.fill('#apiKey', API_KEY); // pasted
      expect([await valueOf(page, '#relayUrl'), await valueOf(page, '#apiKey')]).toEqual([`127.0.0.1:${port}`, API_KEY]);
      await expect.poll(() => isChecked(page, '#notifications')).toBe(true);
      const messages = () => textsOf(page, 'ul.messages li');

      // Save asks for host access to 127.0.0.1 during the click. Headless, neither browser answers
      // that prompt (the promise stays pending); saving does not wait for it.
      await page.clickButton(TEXT.options.save);
      // (Were it refused at once, the page would add its note on CORS.)
      const tested = [TEXT.options.saved, TEXT.options.testOk(TEXT.concurStates.ok), TEXT.options.testCounts(SEEDED, 0, 0)];
      const withoutAccessNote = async () => (await messages()).filter((text) => text !== TEXT.options.permissionDenied);
      await expect.poll(withoutAccessNote, pollOptions).toEqual(tested);
      await expect.poll(() => valueOf(page, '#relayUrl')).toBe(relay.url);
      expect(await extensionStorage(b)).toMatchObject({ settings: { relayUrl: relay.url, apiKey: API_KEY, notifications: true } });
      // No host access was granted: everything below works through the relay's CORS.
      expect(await grantedOrigins(b)).toEqual([]);

      await page.clickButton(TEXT.options.test);
      await expect.poll(messages, pollOptions).toEqual([TEXT.options.testOk(TEXT.concurStates.ok), TEXT.options.testCounts(SEEDED, 0, 0)]);

      // Saving made the background refresh: the badge counts what waits.
      expect(await badgeShows(String(SEEDED))).toEqual({ text: String(SEEDED), title: BACKGROUND_TEXT.badgeTitle(SEEDED) });
      await page.close();
    });

    it('lists the pending requests in the popup, with the counts of GET /api/v1/summary on the tabs', async () => {
      popup = await ext().open('popup.html');
      await expect.poll(() => pendingRows(popup), pollOptions).toBe(SEEDED);
      const shown = await popup.evaluate(() => [...document.querySelectorAll('#panel-pending li[data-id]')].map((li) => li.getAttribute('data-id')), null);
      const pendingInSandbox = sandbox()
        .state.all()
        // Waiting: Pending, or Processing once the relay's sweep was handed the token (seed, Example 4).
        .filter((r) => r.status === 'Pending' || r.status === 'Processing')
        .map((r) => r.id);
      expect(new Set(shown)).toEqual(new Set(pendingInSandbox));

      const counts = (await summary()).counts;
      expect(counts).toMatchObject({ pending: SEEDED, failed: 0, connected: 0 });
      for (const group of GROUPS) expect(await tabCount(popup, group), `the ${group} tab`).toBe(String(counts[group]));
      expect(await attrOf(popup, '#tab-pending', 'aria-selected')).toBe('true');
      expect((await readBadge(ext())).text).toBe(String(counts.pending));
    });

    it('one click on "Connected" sends exactly one PUT CRSUC for that request, moves it to Connected and lowers the badge', async () => {
      sandbox().calls.clear();
      // The first row whose one-click reply is "Connected" (rows with an expired token offer a new token first).
      const id = await popup.evaluate(
        () => document.querySelector('#panel-pending li[data-id]:has([data-primary][data-code="CRSUC"])')?.getAttribute('data-id') ?? null,
        null,
      );
      expect(id, 'a pending row offering Connected').not.toBeNull();
      const target = row(id!);
      const name = await textOf(popup, `${target} .name`);
      expect(await textOf(popup, `${target} [data-primary]`)).toBe(TEXT.primaryReply);
      await popup.click(`${target} [data-primary]`);

      // Concur (the sandbox) got exactly one PUT: CRSUC for this id, answered 204 (after the relay
      // exchanged the request token with the sandbox's partner credentials).
      const puts = () => sandbox().calls.list().filter((call) => call.route === 'put');
      await eventually(() => puts().some((call) => call.status === 204), 15_000);
      expect(puts().map(({ requestId, putStatus, status }) => ({ requestId, putStatus, status }))).toEqual([{ requestId: id, putStatus: 'CRSUC', status: 204 }]);
      expect(sandbox().state.get(id!)?.status).toBe('Connected');

      // The popup follows: gone from Pending, listed under Connected, counts as the relay's.
      await expect.poll(() => countOf(popup, `#panel-pending ${target}`), pollOptions).toBe(0);
      await expect.poll(() => tabCount(popup, 'connected'), pollOptions).toBe('1');
      await expect.poll(() => textOf(popup, '[data-live="status"]'), pollOptions).toBe(POPUP_TEXT.announceAccepted(TEXT.primaryReply, name));
      await popup.click('#tab-connected');
      await expect.poll(() => countOf(popup, `#panel-connected ${target}`)).toBe(1);
      const counts = (await summary()).counts;
      expect(counts).toMatchObject({ pending: SEEDED - 1, connected: 1, failed: 0 });
      for (const group of GROUPS) expect(await tabCount(popup, group), `the ${group} tab`).toBe(String(counts[group]));

      // The badge is the new pending count.
      expect(await badgeShows(String(counts.pending))).toEqual({ text: String(counts.pending), title: BACKGROUND_TEXT.badgeTitle(counts.pending) });
      await popup.click('#tab-pending');
      expect(await notificationIds(ext())).toEqual([]);
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
      await expect.poll(() => countOf(popup, `#panel-pending ${row(added.id)}`), pollOptions).toBe(1);
      await expect.poll(() => tabCount(popup, 'pending')).toBe(String(before + 1));
      // Still exactly one a moment later (no second announcement from a later refresh).
      await new Promise((r) => setTimeout(r, 1500));
      expect(await notificationIds(b)).toEqual([notificationId(added.id)]);
    });

    it('the relay stopping shows the error mark; started again on the same port and database, the badge recovers by itself', async () => {
      const b = ext();
      // Only the background may follow the relay from here on: no popup or options page is open.
      await b.closePages();
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
        `${name}: relay stop noticed in ${noticedMs} ms; the badge recovered ${recoveredAt - restartedAt} ms after the restart, ` +
          (alarm !== null && beforeAlarm
            ? `${Math.round(alarm.scheduledTime - recoveredAt)} ms before the alarm's next firing: the live-events reconnect brought it back`
            : 'after the alarm fired: the alarm (or the live-events reconnect) brought it back'),
      );
      // The background follows the relay's live events again (no extension page holds a stream: it is the only client).
      const sseClients = async () => Number(/^triplink_sse_clients (\d+)$/m.exec(await (await fetch(`${relay.url}/metrics`)).text())?.[1] ?? NaN);
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
}

walk('chromium');
walk('firefox');
