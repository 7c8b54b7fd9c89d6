import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../relay/base/config.js';
import { createLogger } from '../../relay/base/log.js';
import { startRelay, type RunningRelay } from '../../relay/boot/runtime.js';
import { ManualClock } from '../../relay/sandbox/clock.js';
import { eventually } from '../helpers/relay-process.js';
import { launchChromiumDriver } from './drivers/chromium.js';
import { countOf, textOf, type ExtensionDriver, type ExtensionPage } from './drivers/driver.js';
import { launchFirefoxDriver } from './drivers/firefox.js';

/**
 * The README's pictures, made by the e2e run from fixed data so that the same code gives the same
 * PNGs: the sandbox's PRNG seed is fixed (travellers, ids, ages), its clock stands still at the
 * run's start, and the pages' clock is frozen a minute later, so every age and token time the
 * popup shows is the same in every run. (Not a fixed date: the relay stamps what Concur does not
 * say, when it first saw a request token or sent a reply, with its own clock, the real one; a
 * minute after the start those read "14 min left" and "1 min ago" in every run.) The relay listens
 * on a fixed port, as the options page shows its address. The PNGs are committed; a test fails
 * when one the README shows is missing, never because pixels changed (that is for review).
 */

export const SCREENSHOTS = join('test', 'e2e', 'screenshots');
/** The sandbox's clock (standing still) and the pages' (a minute later): see above. */
const SANDBOX_AT = Date.now();
const FROZEN_AT = SANDBOX_AT + 60_000;
const SEED = 20_301_401;
/** Fixed, because the options page shows it; chosen away from the relay's 8787 and the sandbox's 8788. */
const PORT = 38_787;
const API_KEY = 'e2e-screenshots-key-0123456789ab';
/** The popup's next clock tick (PopupApp.tsx TICK_MS) and a little more: Firefox's clock freezes after load. */
const FIREFOX_TICK_MS = 16_000;

let relay: RunningRelay | undefined;
let dir: string | undefined;
let setupError: unknown;

async function reply(id: string, status: string): Promise<void> {
  const res = await fetch(`${relay!.url}/api/v1/requests/${encodeURIComponent(id)}/reply`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ status }),
  });
  expect(res.status).toBe(202);
}

beforeAll(async () => {
  try {
    dir = mkdtempSync(join(tmpdir(), 'triplink-e2e-shots-'));
    const parsed = parseConfig({ RELAY_DB: join(dir, 'relay.sqlite'), RELAY_PORT: String(PORT), POLL_INTERVAL_SECONDS: '1', RELAY_API_KEYS: API_KEY });
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const quiet = new Writable({ write: (_chunk, _enc, done) => done() });
    // No member directory: the pictures show requests waiting for a person (auto-connect has its own, autoconnect.e2e).
    relay = await startRelay({ ...parsed.config, match: null }, {
      logger: createLogger({ destination: quiet, level: 'warn' }),
      sandboxDemoEveryMs: 0,
      sandboxRandom: SEED,
      sandboxClock: new ManualClock(SANDBOX_AT),
    }).catch((err: unknown) => {
      throw new Error(`the screenshots' relay could not listen on 127.0.0.1:${PORT} (fixed, as the options page shows it): ${String(err)}`);
    });
    const r = relay;
    await eventually(() => r.store.requests.counts().pending === 12, 15_000);
    // One failed and one connected request, replied through the API (the oldest two: the same every run).
    // Waiting: Pending, or Processing once the relay's sweep was handed the token (seed, Example 4).
    const [first, second] = r.sandbox!.state.all().filter((q) => q.status === 'Pending' || q.status === 'Processing');
    await reply(first!.id, 'CREU1');
    await reply(second!.id, 'CRSUC');
    await eventually(() => {
      const counts = r.store.requests.counts();
      return counts.failed === 1 && counts.connected === 1;
    }, 20_000);
    mkdirSync(SCREENSHOTS, { recursive: true });
  } catch (err) {
    setupError = err;
  }
});

afterAll(async () => {
  await relay?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** Settings as the options page's Save stores them, then every page the extension opened is closed. */
async function configure(driver: ExtensionDriver): Promise<void> {
  await driver.call((api, settings) => api.storage.local.set({ settings, settings$: { v: 1 } }), {
    relayUrl: relay!.url,
    apiKey: API_KEY,
    notifications: false,
  });
  await driver.closePages();
}

async function popupReady(page: ExtensionPage): Promise<void> {
  await expect.poll(() => countOf(page, '#panel-pending li[data-id]'), { timeout: 15_000 }).toBe(10);
  await expect.poll(() => textOf(page, '#tab-connected .count')).toBe('1');
  await page.mouseAway();
}

async function optionsShot(driver: ExtensionDriver, path: string): Promise<void> {
  const options = await driver.open('options.html');
  await options.setViewport({ width: 720, height: 640 });
  await options.clickButton('Test connection');
  await expect.poll(() => countOf(options, 'ul.messages li'), { timeout: 10_000 }).toBe(2);
  await options.mouseAway();
  // No focus ring or text caret (its blink would differ between runs), no transition half-way.
  await options.evaluate(() => (document.activeElement as HTMLElement | null)?.blur(), null);
  await expect.poll(() => options.evaluate(() => document.getAnimations().length, null)).toBe(0);
  await options.screenshot(path);
  await options.close();
}

const shot = (name: string) => join(SCREENSHOTS, name);

describe('screenshots from fixed data', () => {
  it('Chromium: the popup light and dark, its Failed and Connected tabs, the options page', async () => {
    if (setupError !== undefined) throw setupError;
    const driver = await launchChromiumDriver({ clockAt: FROZEN_AT });
    try {
      await configure(driver);
      const popup = await driver.open('popup.html');
      await popupReady(popup);
      for (const scheme of ['light', 'dark'] as const) {
        await popup.emulateColorScheme(scheme);
        await popup.screenshot(shot(`popup-${scheme}.png`), '.popup');
      }
      await popup.emulateColorScheme('light');
      for (const group of ['failed', 'connected'] as const) {
        await popup.click(`#tab-${group}`);
        await popup.waitFor(`#panel-${group} li[data-id]`);
        await popup.mouseAway();
        await popup.screenshot(shot(`popup-${group}.png`), '.popup');
      }
      await popup.close();
      await optionsShot(driver, shot('options.png'));
    } finally {
      await driver.close();
    }
  });

  it('Firefox: the popup and the options page, for the README to show beside Chromium', async () => {
    if (setupError !== undefined) throw setupError;
    const driver = await launchFirefoxDriver({ clockAt: FROZEN_AT, colorScheme: 'light' });
    try {
      await configure(driver);
      const popup = await driver.open('popup.html');
      await popupReady(popup);
      await new Promise((r) => setTimeout(r, FIREFOX_TICK_MS));
      await popup.screenshot(shot('firefox-popup.png'), '.popup');
      await popup.close();
      await optionsShot(driver, shot('firefox-options.png'));
    } finally {
      await driver.close();
    }
  }, 90_000);

  it('every screenshot the README shows is there, a PNG', () => {
    const shown = [...readFileSync('README.md', 'utf8').matchAll(/test\/e2e\/screenshots\/([\w-]+\.png)/g)].map((m) => m[1]!);
    expect(shown.length).toBeGreaterThanOrEqual(4);
    const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
    for (const name of new Set(shown)) {
      const path = shot(name);
      expect(existsSync(path), `${path} (shown in the README)`).toBe(true);
      expect(statSync(path).size).toBeGreaterThan(1000);
      expect(readFileSync(path).subarray(0, 4).equals(PNG), `${path} is a PNG`).toBe(true);
    }
  });
});
