import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { FIREFOX_PROGRAM, ensurePrograms } from '../../helpers/system-packages.js';
import { FIREFOX_BUILD, POPUP_VIEWPORT } from '../browser.js';
import type { ExtensionDriver, ExtensionPage } from './driver.js';

/**
 * The driver in Debian's Firefox ESR: puppeteer-core over WebDriver BiDi (no driver binary, no
 * browser download: PUPPETEER_SKIP_DOWNLOAD is not even needed, puppeteer-core never downloads),
 * with the MV2 build installed as a temporary add-on. How it reaches the extension's pages and
 * APIs, and why: driver.ts.
 */

/** Fixed, so that the extension's origin (moz-extension://<uuid>) is known before it starts. */
export const FIREFOX_EXTENSION_UUID = '7e1c5a3e-2f0b-4c8e-9d61-5b0c1e7a9f42';

export interface FirefoxOptions {
  /** The page's `prefers-color-scheme` (a preference, so fixed for the whole run). */
  colorScheme?: 'light' | 'dark';
  /** A frozen clock (ms since the epoch) in every page the driver opens, from just after it loaded. */
  clockAt?: number;
}

function geckoId(): string {
  const manifest = JSON.parse(readFileSync(join(FIREFOX_BUILD, 'manifest.json'), 'utf8')) as {
    browser_specific_settings?: { gecko?: { id?: string } };
  };
  const id = manifest.browser_specific_settings?.gecko?.id;
  if (id === undefined) throw new Error(`${FIREFOX_BUILD}/manifest.json has no gecko id: global-setup.ts builds it with \`wxt build -b firefox\`.`);
  return id;
}

/** location.href from inside the page: BiDi does not report navigations it did not start. */
async function hrefOf(page: Page): Promise<string> {
  try {
    return await page.evaluate(() => location.href);
  } catch {
    return '';
  }
}

function wrap(page: Page, onClose: () => void): ExtensionPage {
  return {
    href: () => hrefOf(page),
    evaluate: (fn, arg) => page.evaluate(fn as never, arg) as never,
    async type(selector, text) {
      await page.waitForSelector(selector);
      await page.type(selector, text);
    },
    async fill(selector, text) {
      await page.locator(selector).fill(text);
    },
    async click(selector) {
      await page.locator(selector).click();
    },
    async clickButton(name) {
      const buttons = await page.$$('button');
      for (const button of buttons) {
        if ((await button.evaluate((b) => (b.textContent ?? '').trim())) === name) return void (await button.click());
      }
      throw new Error(`no button named ${JSON.stringify(name)}`);
    },
    async waitFor(selector, timeoutMs = 10_000) {
      await page.waitForSelector(selector, { timeout: timeoutMs });
    },
    mouseAway: () => page.mouse.move(0, 0),
    setViewport: (size) => page.setViewport(size),
    async screenshot(path, selector) {
      if (selector === undefined) await page.screenshot({ path });
      else await (await page.waitForSelector(selector))!.screenshot({ path });
    },
    async emulateColorScheme() {
      throw new Error("Firefox takes the colour scheme from a preference at launch (FirefoxOptions.colorScheme)");
    },
    // BiDi's reload is refused like its navigation to moz-extension://; the page reloads itself.
    reload: async () => {
      await page.evaluate(() => setTimeout(() => location.reload(), 0));
      await new Promise((r) => setTimeout(r, 200));
      await page.waitForFunction(() => document.readyState === 'complete');
    },
    async close() {
      onClose();
      await page.close();
    },
  };
}

/** Freezes Date (and so Date.now) at `at`, before the page's own scripts run. */
function freezeClock(at: number): void {
  const RealDate = Date;
  class FrozenDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(at);
      else super(...(args as [number]));
    }
    static override now(): number {
      return at;
    }
  }
  (globalThis as { Date: DateConstructor }).Date = FrozenDate as DateConstructor;
}

export async function launchFirefoxDriver(options: FirefoxOptions = {}): Promise<ExtensionDriver> {
  ensurePrograms([FIREFOX_PROGRAM]);
  const id = geckoId();
  const origin = `moz-extension://${FIREFOX_EXTENSION_UUID}`;
  const profile = mkdtempSync(join(tmpdir(), 'triplink-e2e-firefox-'));
  const browser: Browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PROGRAM.path,
    headless: true,
    userDataDir: profile,
    defaultViewport: POPUP_VIEWPORT,
    extraPrefsFirefox: {
      'extensions.webextensions.uuids': JSON.stringify({ [id]: FIREFOX_EXTENSION_UUID }),
      // Headless, the system's notification service is not there: Firefox's own alert windows are.
      'alerts.useSystemBackend': false,
      // 0 dark, 1 light: what prefers-color-scheme answers in every page.
      ...(options.colorScheme && { 'layout.css.prefers-color-scheme.content-override': options.colorScheme === 'dark' ? 0 : 1 }),
    },
  });
  const handedOut = new Set<Page>();
  let control: Page | undefined;

  /** A tab not handed out yet whose document is at `href`, polled (new tabs report late). */
  async function findPage(href: string, timeoutMs: number, before = new Set<Page>()): Promise<Page> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const page of await browser.pages()) {
        if (before.has(page) || handedOut.has(page) || page === control) continue;
        if ((await hrefOf(page)) !== href) continue;
        // The address is set before the document is ready and has the extension's API.
        await page.waitForFunction(() => document.readyState === 'complete' && typeof (globalThis as any).browser === 'object', { timeout: timeoutMs });
        return page;
      }
      if (Date.now() > deadline) {
        const seen = await Promise.all((await browser.pages()).map(hrefOf));
        throw new Error(`no tab at ${href} within ${timeoutMs} ms; tabs: ${seen.join(', ')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const handOut = (page: Page) => (handedOut.add(page), wrap(page, () => handedOut.delete(page)));

  let install: Page;
  try {
    await browser.installExtension(FIREFOX_BUILD);
    install = await findPage(`${origin}/options.html`, 15_000);
    // The driver's own way in, kept open: a second options tab, opened from the first.
    await install.evaluate((url) => (globalThis as any).browser.tabs.create({ url, active: false }), `${origin}/options.html`);
    handedOut.add(install);
    control = await findPage(`${origin}/options.html`, 10_000);
    handedOut.delete(install);
  } catch (err) {
    await browser.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
    throw new Error(`Firefox started, but the extension did not open its options page: ${String(err)}`);
  }
  const way = (): Page => control!;

  return {
    browser: 'firefox',
    manifestVersion: 2,
    origin,
    async installPage(timeoutMs = 10_000) {
      if (!handedOut.has(install)) return handOut(install);
      return handOut(await findPage(`${origin}/options.html`, timeoutMs));
    },
    async open(path) {
      const before = new Set(await browser.pages());
      await way().evaluate((url) => (globalThis as any).browser.tabs.create({ url }), `${origin}/${path.replace(/^\//, '')}`);
      const page = await findPage(`${origin}/${path}`, 10_000, before);
      // Frozen once loaded: BiDi's preload scripts do not run in moz-extension:// documents (tried),
      // so the page's first reading of the clock is the real one; the popup reads it again on
      // its next tick (15 s, PopupApp.tsx), and from then on shows the frozen time.
      if (options.clockAt !== undefined) await page.evaluate(freezeClock, options.clockAt);
      return handOut(page);
    },
    call: (fn, arg) => way().evaluate(`(${fn.toString()})(globalThis.browser, ${JSON.stringify(arg)})`) as never,
    async closePages() {
      for (const page of await browser.pages()) {
        if (page !== control && (await hrefOf(page)).startsWith(`${origin}/`)) await page.close();
      }
      handedOut.clear();
    },
    async close() {
      await browser.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
