import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import JSZip from 'jszip';
import { describe, expect, it } from 'vitest';

/**
 * `npm run zip` (here by the e2e setup, which packages what the browsers load) gives the three
 * files the stores take: the Chrome Web Store's zip (MV3), addons.mozilla.org's (MV2), and the
 * sources AMO asks for with it — buildable from themselves, without node_modules or build output.
 */

const { name, version } = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string; version: string };
const packageOf = (suffix: string) => join('.output', `${name}-${version}-${suffix}.zip`);

async function entries(path: string): Promise<{ names: string[]; zip: JSZip }> {
  const zip = await JSZip.loadAsync(readFileSync(path));
  return { names: Object.keys(zip.files).filter((entry) => !zip.files[entry]!.dir), zip };
}

async function manifestOf(path: string): Promise<{ manifest_version: number; version: string; name: string }> {
  const { zip } = await entries(path);
  const text = await zip.file('manifest.json')?.async('string');
  expect(text, `${path} has a manifest.json at its root`).toBeDefined();
  return JSON.parse(text!) as { manifest_version: number; version: string; name: string };
}

describe('npm run zip', () => {
  it('packages the Chrome extension as MV3, with its popup, options page and background', async () => {
    const path = packageOf('chrome');
    const { names } = await entries(path);
    expect(names).toEqual(expect.arrayContaining(['manifest.json', 'popup.html', 'options.html', 'background.js']));
    expect(await manifestOf(path)).toMatchObject({ manifest_version: 3, version });
  });

  it('packages the Firefox extension as MV2 (the build the Firefox walk tests)', async () => {
    const path = packageOf('firefox');
    const { names } = await entries(path);
    expect(names).toEqual(expect.arrayContaining(['manifest.json', 'popup.html', 'options.html']));
    expect(await manifestOf(path)).toMatchObject({ manifest_version: 2, version });
  });

  it("gives AMO the sources it asks for: the extension's code and its build files, never node_modules or output", async () => {
    const { names } = await entries(packageOf('sources'));
    expect(names).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'wxt.config.ts']));
    expect(names.some((entry) => entry.startsWith('extension/'))).toBe(true);
    expect(names.filter((entry) => /(^|\/)(node_modules|\.output)\//.test(entry))).toEqual([]);
  });
});
