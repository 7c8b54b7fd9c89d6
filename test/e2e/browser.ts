import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { chromium, type BrowserContext, type Page, type Worker } from 'playwright-core';
import type { Settings } from '../../extension/lib/settings.js';
import { parseConfig } from '../../relay/base/config.js';
import type { RelayConfig } from '../../relay/base/config-shape.js';
import type { ApiVersion } from '../../shared/status.js';
import { createLogger } from '../../relay/base/log.js';
import { startRelay, type RunningRelay } from '../../relay/boot/runtime.js';
import { beforeEach } from 'vitest';
import { eventually } from '../helpers/relay-process.js';
import { CHROMIUM_PROGRAM, ensurePrograms } from '../helpers/system-packages.js';

/**
 * The browser side of the end-to-end tests: Debian's Chromium (no browser download from npm) with
 * the built extension loaded, and small readers of what the extension shows outside its pages
 * (badge, tooltip, notifications), taken from its service worker.
 */

export const CHROMIUM = CHROMIUM_PROGRAM.path;
/** Built by global-setup.ts (`wxt build`, `wxt build -b firefox`). */
export const CHROME_BUILD = resolve('.output/chrome-mv3');
export const FIREFOX_BUILD = resolve('.output/firefox-mv2');

/** The popup's size (style.css: 400 px wide, 580 px tall) with a little room. */
export const POPUP_VIEWPORT = { width: 400, height: 600 };

/**
 * Chromium, installed from Debian's packages when it is missing and the machine allows it; fails
 * (never skips) otherwise, with the command to run: a missing browser must not look like a green run.
 */
export function requireChromium(): string {
  ensurePrograms([CHROMIUM_PROGRAM]);
  return CHROMIUM;
}

/** A port that was free a moment ago on loopback (so that a restarted relay can take the same one). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * The configuration of a relay in sandbox mode for a browser test: a database in a new temp
 * folder, a poll every second, `apiKey` as its RELAY_API_KEYS (an admin key for the test's own
 * calls), on `port` (pick one with freePort, so that a restarted relay listens where it did).
 * Auto-connect (and the member directory) is off unless `autoConnect`: sandbox mode's default (the
 * demo directory, `connect`) would connect most seeded requests within a second, and tests of
 * other things count on them staying pending for a person. `apiVersion`: CONCUR_API_VERSION (3.2:
 * the sandbox's /api/v3.2 queue, GUID ids, travellers with e-mail addresses).
 */
export function sandboxRelayConfig(apiKey: string, port: number, { autoConnect = false, apiVersion = '3.0' as ApiVersion } = {}): RelayConfig {
  const dir = mkdtempSync(join(tmpdir(), 'triplink-e2e-'));
  const parsed = parseConfig({
    RELAY_DB: join(dir, 'relay.sqlite'),
    RELAY_PORT: String(port),
    POLL_INTERVAL_SECONDS: '1',
    RELAY_API_KEYS: apiKey,
    CONCUR_API_VERSION: apiVersion,
  });
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  if (parsed.config.mode !== 'sandbox') throw new Error(`the relay should run in sandbox mode, not ${parsed.config.mode}`);
  // Without auto-connect, no directory either: its answers would add a line to every row.
  return autoConnect ? parsed.config : { ...parsed.config, match: null };
}

/**
 * Starts that relay in this process, so the test has its store and its sandbox; its log lines go
 * to `logs` (for a failing test to print). Nothing arrives in the sandbox unless a test adds it.
 */
export function startSandboxRelay(config: RelayConfig, logs: string[]): Promise<RunningRelay> {
  const destination = new Writable({ write: (chunk, _enc, done) => (logs.push(String(chunk).trimEnd()), done()) });
  return startRelay(config, { logger: createLogger({ destination, level: 'info' }), sandboxDemoEveryMs: 0 });
}

/** A CSS attribute selector for a request's row in the popup (ids may hold any character). */
export const rowSelector = (id: string) => `li[data-id=${JSON.stringify(id)}]`;

export interface ExtensionBrowser {
  context: BrowserContext;
  extensionId: string;
  /** The extension's service worker now (an MV3 worker may be stopped and started again). */
  worker(): Promise<Worker>;
  /** Opens one of the extension's pages (`popup.html`, `options.html`) in a new tab. */
  open(page: string): Promise<Page>;
  close(): Promise<void>;
}

/** Launches headless Chromium (Debian's) with the built Chrome extension loaded unpacked. */
export async function launchExtension(extensionDir = CHROME_BUILD): Promise<ExtensionBrowser> {
  const executablePath = requireChromium();
  if (!existsSync(join(extensionDir, 'manifest.json'))) {
    throw new Error(`No built extension in ${extensionDir}: global-setup.ts runs \`wxt build\` first.`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'triplink-e2e-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: POPUP_VIEWPORT,
    args: [
      `--disable-extensions-except=${extensionDir}`,
      `--load-extension=${extensionDir}`,
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const isOurs = (w: Worker) => w.url().startsWith('chrome-extension://');
  const worker = async (): Promise<Worker> =>
    context.serviceWorkers().find(isOurs) ?? (await context.waitForEvent('serviceworker', { predicate: isOurs, timeout: 15_000 }));
  let extensionId: string;
  try {
    extensionId = new URL((await worker()).url()).host;
  } catch (err) {
    await context.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
    throw new Error(`Chromium started, but the extension's service worker never appeared: ${String(err)}`);
  }
  return {
    context,
    extensionId,
    worker,
    async open(path) {
      const page = await context.newPage();
      await page.goto(`chrome-extension://${extensionId}/${path}`);
      return page;
    },
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface BadgeState {
  text: string;
  title: string;
}

/**
 * launchExtension for a file that opens its own pages: installed with nothing set, the extension
 * opens its options page; it is waited for (it may not come) and closed with any other of its pages.
 */
export async function launchExtensionWithoutPages(): Promise<ExtensionBrowser> {
  const browser = await launchExtension();
  await eventually(() => browser.context.pages().some((page) => page.url().endsWith('/options.html')), 10_000).catch(() => undefined);
  for (const page of browser.context.pages()) if (page.url().startsWith('chrome-extension://')) await page.close();
  return browser;
}

/**
 * For every test of the file: fails it with the setup's error when the setup (its beforeAll) failed,
 * and prints the relay's last log lines when it fails.
 */
export function reportSetup(setupError: () => unknown, relayLogs: readonly string[]): void {
  beforeEach((context) => {
    const error = setupError();
    if (error !== undefined) throw error;
    context.onTestFailed(() => {
      console.error(`relay log (last 40 lines):\n${relayLogs.slice(-40).join('\n')}`);
    });
  });
}

/** The toolbar badge and tooltip, read from the extension's service worker. */
export async function readBadge(browser: ExtensionBrowser): Promise<BadgeState> {
  const sw = await browser.worker();
  return sw.evaluate(async () => {
    const chrome = (globalThis as any).chrome;
    return { text: (await chrome.action.getBadgeText({})) as string, title: (await chrome.action.getTitle({})) as string };
  });
}

/** The ids of the extension's notifications now showing. */
export async function notificationIds(browser: ExtensionBrowser): Promise<string[]> {
  const sw = await browser.worker();
  const all = await sw.evaluate(() => (globalThis as any).chrome.notifications.getAll() as Promise<Record<string, boolean>>);
  return Object.keys(all).sort();
}

/** One of the extension's alarms, as the browser keeps it (scheduledTime in ms since the epoch). */
export async function readAlarm(browser: ExtensionBrowser, name: string): Promise<{ scheduledTime: number; periodInMinutes?: number } | null> {
  const sw = await browser.worker();
  return sw.evaluate(async (alarmName) => ((await (globalThis as any).chrome.alarms.get(alarmName)) ?? null) as never, name);
}

/** What the extension keeps in `chrome.storage.local`. */
export async function extensionStorage(browser: ExtensionBrowser): Promise<Record<string, unknown>> {
  const sw = await browser.worker();
  return sw.evaluate(() => (globalThis as any).chrome.storage.local.get(null) as Promise<Record<string, unknown>>);
}

/** The host permissions the user granted (the options page asks for the relay's host on Save). */
export async function grantedOrigins(browser: ExtensionBrowser): Promise<string[]> {
  const sw = await browser.worker();
  return sw.evaluate(async () => ((await (globalThis as any).chrome.permissions.getAll()).origins ?? []) as string[]);
}

// ---- for the benchmarks (test/bench/notice.ts, popup.ts), which run outside the e2e project ----

/** What `wxt build` reads: a build older than any of these is stale. */
const BUILD_INPUTS = ['extension', 'shared', 'wxt.config.ts', 'package.json'];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/**
 * Builds the Chrome extension (`wxt build`, as global-setup.ts does) unless CHROME_BUILD exists
 * and is newer than every source it is built from. Returns whether it built.
 */
export function ensureChromeBuild(): boolean {
  const manifest = join(CHROME_BUILD, 'manifest.json');
  if (existsSync(manifest) && statSync(manifest).mtimeMs >= Math.max(...BUILD_INPUTS.map((p) => newestMtime(resolve(p))))) {
    return false;
  }
  const run = spawnSync('npx', ['--no-install', 'wxt', 'build'], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 120_000,
  });
  if (run.error || run.status !== 0) {
    throw new Error(`npx wxt build failed (${run.error ? String(run.error) : `exit ${run.status ?? run.signal}`}).\n${run.stdout ?? ''}\n${run.stderr ?? ''}`);
  }
  return true;
}

/**
 * Stores the settings the way the options page's Save does (`settingsItem`: the `settings` key of
 * `chrome.storage.local` and its version in `settings$`); the background reacts to the change.
 */
export async function writeSettings(browser: ExtensionBrowser, settings: Settings): Promise<void> {
  const sw = await browser.worker();
  await sw.evaluate(
    (value) => (globalThis as any).chrome.storage.local.set({ settings: value, settings$: { v: 1 } }) as Promise<void>,
    settings,
  );
}

/**
 * Polls the badge inside the service worker (no round trip to Node per look) every `everyMs`
 * until it shows `text`; resolves with the worker's Date.now() at that look, or null after
 * `timeoutMs`. Start it before the change it waits for.
 */
export async function badgeShownAt(browser: ExtensionBrowser, text: string, timeoutMs: number, everyMs = 25): Promise<number | null> {
  const sw = await browser.worker();
  return sw.evaluate(
    async ({ text, timeoutMs, everyMs }) => {
      const chrome = (globalThis as any).chrome;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if ((await chrome.action.getBadgeText({})) === text) return Date.now();
        if (Date.now() > deadline) return null;
        await new Promise((r) => setTimeout(r, everyMs));
      }
    },
    { text, timeoutMs, everyMs },
  );
}
