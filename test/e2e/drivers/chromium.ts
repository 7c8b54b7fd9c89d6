import type { Page } from 'playwright-core';
import { launchExtension } from '../browser.js';
import type { ExtensionDriver, ExtensionPage } from './driver.js';

/**
 * The driver in Debian's Chromium: Playwright over CDP with the MV3 build loaded unpacked
 * (browser.ts launches it). `call` runs in the extension's service worker.
 */

function wrap(page: Page): ExtensionPage {
  return {
    href: async () => page.url(),
    evaluate: (fn, arg) => page.evaluate(fn as never, arg) as never,
    type: (selector, text) => page.locator(selector).pressSequentially(text),
    fill: (selector, text) => page.locator(selector).fill(text),
    click: (selector) => page.locator(selector).click(),
    clickButton: (name) => page.getByRole('button', { name, exact: true }).click(),
    waitFor: (selector, timeoutMs = 10_000) => page.locator(selector).first().waitFor({ timeout: timeoutMs }),
    mouseAway: () => page.mouse.move(0, 0),
    setViewport: (size) => page.setViewportSize(size),
    async screenshot(path, selector) {
      if (selector === undefined) await page.screenshot({ path });
      else await page.locator(selector).screenshot({ path });
    },
    emulateColorScheme: (colorScheme) => page.emulateMedia({ colorScheme }),
    reload: async () => void (await page.reload()),
    close: () => page.close(),
  };
}

export async function launchChromiumDriver(options: { clockAt?: number } = {}): Promise<ExtensionDriver> {
  const browser = await launchExtension();
  // A frozen clock for every page (screenshots: the same ages whenever they are taken).
  if (options.clockAt !== undefined) await browser.context.clock.setFixedTime(options.clockAt);
  const origin = `chrome-extension://${browser.extensionId}`;
  const ours = (page: Page) => page.url().startsWith(`${origin}/`);
  return {
    browser: 'chromium',
    manifestVersion: 3,
    origin,
    async installPage(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // (Polled: a new tab may still show about:blank when Playwright first reports it.)
        const page = browser.context.pages().find((p) => p.url() === `${origin}/options.html`);
        if (page !== undefined) return wrap(page);
        if (Date.now() > deadline) {
          throw new Error(`the extension did not open its options page on install; tabs: ${browser.context.pages().map((p) => p.url()).join(', ')}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    open: async (path) => wrap(await browser.open(path)),
    async call(fn, arg) {
      const worker = await browser.worker();
      return worker.evaluate(`(${fn.toString()})(globalThis.chrome, ${JSON.stringify(arg)})`) as never;
    },
    async closePages() {
      for (const page of browser.context.pages()) if (ours(page)) await page.close();
    },
    close: () => browser.close(),
  };
}
