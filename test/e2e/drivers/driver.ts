/**
 * A browser-neutral handle on the built extension in a real browser, so that a walk through the
 * product is written once and run in Chromium and in Firefox. Two implementations:
 * chromium.ts (Playwright over CDP) and firefox.ts (puppeteer-core over WebDriver BiDi).
 *
 * Where the two browsers differ, it is said here and nowhere else:
 * - Chromium runs the MV3 build (`.output/chrome-mv3`): the background is a service worker, and
 *   the driver's `call` runs there. Pages open with a plain navigation to chrome-extension://.
 * - Firefox runs the MV2 build (`.output/firefox-mv2`, see README "Firefox: MV2"): the background
 *   is a page that WebDriver BiDi does not expose, and BiDi refuses to navigate a tab to
 *   moz-extension:// ("unsupported operation"). So the extension opens its own pages: the
 *   options tab it opens on install is the way in; from there `browser.tabs.create` opens any
 *   other page, and one extension page stays open for the driver's `call` (a second options
 *   tab: it keeps no live-events stream, so the relay still counts the background alone).
 * - Host access: Chromium's permission prompt never answers headless; Firefox's does not either.
 *   The options page saves without it and the relay's CORS serves the extension's origin.
 * - Colour scheme: Chromium emulates `prefers-color-scheme` per page; Firefox takes it from a
 *   preference fixed at launch (`colorScheme` in FirefoxOptions).
 */

export type BrowserName = 'chromium' | 'firefox';

/** One tab showing one of the extension's pages. */
export interface ExtensionPage {
  /** The page's own address (location.href), read from inside the page. */
  href(): Promise<string>;
  /** Runs `fn(arg)` in the page and returns its (JSON) result. */
  evaluate<A, R>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  /** Key by key, as a person types, into the element `selector` finds. */
  type(selector: string, text: string): Promise<void>;
  /** The whole value at once, as a paste does. */
  fill(selector: string, text: string): Promise<void>;
  /** A real mouse click on the element `selector` finds (waits for it). */
  click(selector: string): Promise<void>;
  /** A real mouse click on the button whose text is exactly `name`. */
  clickButton(name: string): Promise<void>;
  /** Waits until `selector` finds an element. */
  waitFor(selector: string, timeoutMs?: number): Promise<void>;
  /** Moves the mouse to the top-left corner (no hover left in a screenshot). */
  mouseAway(): Promise<void>;
  setViewport(size: { width: number; height: number }): Promise<void>;
  /** A PNG of the element `selector` finds, or of the viewport. */
  screenshot(path: string, selector?: string): Promise<void>;
  /** Chromium only (see above); Firefox's driver throws. */
  emulateColorScheme(scheme: 'light' | 'dark'): Promise<void>;
  reload(): Promise<void>;
  close(): Promise<void>;
}

export interface ExtensionDriver {
  readonly browser: BrowserName;
  readonly manifestVersion: 2 | 3;
  /** `chrome-extension://<id>` or `moz-extension://<uuid>` (no trailing slash). */
  readonly origin: string;
  /** The options page the extension opened by itself on install, or fails saying which tabs there are. */
  installPage(timeoutMs?: number): Promise<ExtensionPage>;
  /** Opens `path` (`popup.html`, `options.html#x`) of the extension in a new tab. */
  open(path: string): Promise<ExtensionPage>;
  /**
   * Runs `fn(arg)` with the extension's API namespace (`browser` in Firefox, `chrome` in
   * Chromium; both promise-based) inside the extension, outside any page the test opened.
   */
  call<A, R>(fn: (api: any, arg: A) => R | Promise<R>, arg: A): Promise<R>;
  /** Closes every extension page the test opened (the driver's own way in stays). */
  closePages(): Promise<void>;
  close(): Promise<void>;
}

export interface BadgeState {
  text: string;
  title: string;
}

/** The toolbar badge and tooltip (`action` in MV3, `browserAction` in MV2). */
export function readBadge(driver: ExtensionDriver): Promise<BadgeState> {
  return driver.call(async (api) => {
    const action = api.action ?? api.browserAction;
    return { text: (await action.getBadgeText({})) as string, title: (await action.getTitle({})) as string };
  }, null);
}

/** The ids of the extension's notifications now showing. */
export async function notificationIds(driver: ExtensionDriver): Promise<string[]> {
  const all = await driver.call((api) => api.notifications.getAll() as Promise<Record<string, unknown>>, null);
  return Object.keys(all).sort();
}

/** One of the extension's alarms (scheduledTime in ms since the epoch), or null. */
export function readAlarm(driver: ExtensionDriver, name: string): Promise<{ scheduledTime: number; periodInMinutes?: number } | null> {
  return driver.call(async (api, alarmName) => ((await api.alarms.get(alarmName)) ?? null) as never, name);
}

/** What the extension keeps in `storage.local`. */
export function extensionStorage(driver: ExtensionDriver): Promise<Record<string, unknown>> {
  return driver.call((api) => api.storage.local.get(null) as Promise<Record<string, unknown>>, null);
}

/** The host permissions the user granted (the options page asks for the relay's host on Save). */
export function grantedOrigins(driver: ExtensionDriver): Promise<string[]> {
  return driver.call(async (api) => ((await api.permissions.getAll()).origins ?? []) as string[], null);
}

// ---- reads of a page, written once with `evaluate` ----

export const textOf = (page: ExtensionPage, selector: string) =>
  page.evaluate((s) => (document.querySelector<HTMLElement>(s)?.innerText ?? '').trim(), selector);
export const textsOf = (page: ExtensionPage, selector: string) =>
  page.evaluate((s) => [...document.querySelectorAll<HTMLElement>(s)].map((e) => e.innerText.trim()), selector);
export const countOf = (page: ExtensionPage, selector: string) => page.evaluate((s) => document.querySelectorAll(s).length, selector);
export const attrOf = (page: ExtensionPage, selector: string, name: string) =>
  page.evaluate(([s, n]) => document.querySelector(s)?.getAttribute(n) ?? null, [selector, name] as const);
export const valueOf = (page: ExtensionPage, selector: string) =>
  page.evaluate((s) => document.querySelector<HTMLInputElement>(s)?.value ?? null, selector);
export const isChecked = (page: ExtensionPage, selector: string) =>
  page.evaluate((s) => document.querySelector<HTMLInputElement>(s)?.checked ?? null, selector);
