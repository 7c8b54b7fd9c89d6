import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROME_BUILD, FIREFOX_BUILD, launchExtensionWithoutPages, type ExtensionBrowser } from './browser.js';

/**
 * zod in the built extension (wxt.config.ts aliases `zod/mini` and `zod` to
 * extension/lib/zod-jitless*.ts):
 * - only zod/mini is bundled, never classic zod (which would bring all its methods, and the
 *   `new Function` fast path, into every page);
 * - zod is configured `jitless` in every extension context, pages and service worker, so that it
 *   never tries `new Function` there (the CSP refuses eval, and even a caught refusal is a
 *   `securitypolicyviolation`, which the pages are watched for from before their first script).
 */

function scripts(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...scripts(path));
    else if (entry.name.endsWith('.js')) found.push(path);
  }
  return found;
}

/** A zod constructor's name as it stays in minified code: `$constructor("ZodObject", …)`. */
const constructorName = (name: string) => new RegExp(`[\`'"]${name}[\`'"]`);

describe('zod in the built extension', () => {
  it('bundles zod/mini and no classic zod', () => {
    for (const build of [CHROME_BUILD, FIREFOX_BUILD]) {
      const files = scripts(build).map((path) => ({ path, code: readFileSync(path, 'utf8') }));
      expect(files.some((f) => constructorName('ZodMiniObject').test(f.code)), `zod/mini in ${build}`).toBe(true);
      for (const { path, code } of files) {
        for (const classic of ['ZodType', 'ZodObject', 'ZodString']) {
          expect(constructorName(classic).test(code), `classic ${classic} in ${path}`).toBe(false);
        }
      }
    }
  });

  describe('in Chromium', () => {
    let browser: ExtensionBrowser;
    beforeAll(async () => {
      // Installed with nothing set, the extension opens its options page; in the tab a test has just
      // opened, that navigation would cut the test's own short.
      browser = await launchExtensionWithoutPages();
    });
    afterAll(async () => {
      await browser?.close();
    });

    /** Opens an extension page, collecting its CSP violations from before its first script runs. */
    async function openWatched(path: string): Promise<Page> {
      const page = await browser.context.newPage();
      await page.addInitScript(() => {
        const seen: string[] = [];
        (globalThis as { __cspViolations?: string[] }).__cspViolations = seen;
        document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
      });
      await page.goto(`chrome-extension://${browser.extensionId}/${path}`);
      await page.waitForLoadState('load');
      return page;
    }

    const jitless = () => (globalThis as { __zod_globalConfig?: { jitless?: boolean } }).__zod_globalConfig?.jitless;
    // Violation events are queued as tasks: let them run before reading.
    const violations = () =>
      new Promise<string[] | undefined>((done) =>
        setTimeout(() => done((globalThis as { __cspViolations?: string[] }).__cspViolations), 100),
      );

    for (const path of ['popup.html', 'options.html']) {
      it(`${path}: zod is jitless and nothing breaks the CSP (no eval tried)`, async () => {
        const page = await openWatched(path);
        // The popup loads its code (and zod) by a dynamic import that may finish after `load`.
        await page.waitForFunction(() => (globalThis as { __zod_globalConfig?: unknown }).__zod_globalConfig !== undefined);
        expect(await page.evaluate(jitless)).toBe(true);
        expect(await page.evaluate(violations)).toEqual([]);
        await page.close();
      });
    }

    it('service worker: zod is jitless', async () => {
      const sw = await browser.worker();
      expect(await sw.evaluate(jitless)).toBe(true);
    });
  });
});
