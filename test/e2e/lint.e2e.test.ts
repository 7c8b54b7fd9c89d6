import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHROME_BUILD, FIREFOX_BUILD } from './browser.js';

/**
 * The built extension as the stores see it: Mozilla's linter on the Firefox build (what
 * addons.mozilla.org runs on upload), and the manifests each browser needs.
 */

interface LintMessage {
  code: string;
  message: string;
  description?: string;
  file?: string;
  line?: number;
}
interface LintReport {
  summary: { errors: number; notices: number; warnings: number };
  errors: LintMessage[];
  warnings: LintMessage[];
  notices: LintMessage[];
}

const describeMessage = (m: LintMessage) => `${m.code} ${m.file ?? ''}${m.line ? `:${m.line}` : ''}: ${m.message}`;

function readManifest(dir: string): Record<string, any> {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, any>;
}

describe('the built extension', () => {
  it('passes web-ext lint (Firefox build) with no errors', () => {
    const run = spawnSync(
      resolve('node_modules/.bin/web-ext'),
      ['lint', '--source-dir', FIREFOX_BUILD, '--output', 'json', '--no-config-discovery'],
      // No update check against the npm registry from inside a test run.
      { encoding: 'utf8', env: { ...process.env, NO_UPDATE_NOTIFIER: '1' }, timeout: 60_000 },
    );
    expect(run.error, String(run.error)).toBeUndefined();
    const json = run.stdout.slice(run.stdout.indexOf('{'));
    let report: LintReport;
    try {
      report = JSON.parse(json) as LintReport;
    } catch {
      throw new Error(`web-ext lint did not answer JSON (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
    }
    const warnings = report.warnings.map(describeMessage).join('\n  ');
    const errors = report.errors.map(describeMessage).join('\n  ');
    expect(
      report.summary.errors,
      `web-ext lint errors:\n  ${errors}\nwarnings (${report.summary.warnings}):\n  ${warnings || 'none'}`,
    ).toBe(0);
    expect(report.errors).toEqual([]);
    expect(run.status, `web-ext lint exited ${run.status}; warnings:\n  ${warnings}`).toBe(0);
  });

  it('has a Gecko id in the Firefox manifest and is MV3 for Chrome', () => {
    const firefox = readManifest(FIREFOX_BUILD);
    expect(firefox.manifest_version).toBe(2);
    expect(firefox.browser_specific_settings?.gecko?.id).toMatch(/^[\w.+-]+@[\w.-]+$/);
    expect(firefox.browser_action?.default_popup).toBe('popup.html');

    const chrome = readManifest(CHROME_BUILD);
    expect(chrome.manifest_version).toBe(3);
    expect(chrome.background?.service_worker).toBe('background.js');
    expect(chrome.action?.default_popup).toBe('popup.html');
    // Host access is asked for at run time (options page), never at install.
    expect(chrome.host_permissions ?? []).toEqual([]);
    expect(chrome.optional_host_permissions).toEqual(['http://*/*', 'https://*/*']);
    expect(chrome.browser_specific_settings).toBeUndefined();
  });
});
