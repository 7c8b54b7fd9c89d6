import { spawnSync } from 'node:child_process';
import { CHROMIUM_PROGRAM, FIREFOX_PROGRAM, ensurePrograms } from '../helpers/system-packages.js';

/**
 * Prepares the e2e project once: the browsers from Debian's packages (system-packages.ts installs
 * them on a fresh machine), and the extension built and packaged as `npm run zip` does it:
 * `.output/chrome-mv3` (loaded into Chromium), `.output/firefox-mv2` (loaded into Firefox, and
 * linted with web-ext), and the store packages beside them (zip.e2e.test.ts reads those). Either
 * failing stops the run with the reason.
 */
export default function prepareEndToEnd(): void {
  // Both browsers in one apt transaction on a fresh machine (about two minutes, once).
  ensurePrograms([CHROMIUM_PROGRAM, FIREFOX_PROGRAM]);
  for (const args of [['wxt', 'zip'], ['wxt', 'zip', '-b', 'firefox']]) {
    const command = `npx ${args.join(' ')}`;
    const run = spawnSync('npx', ['--no-install', ...args], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 120_000,
    });
    if (run.error || run.status !== 0) {
      const why = run.error ? String(run.error) : `exit ${run.status ?? run.signal}`;
      throw new Error(`${command} failed (${why}); the e2e tests need the built extension.\n${run.stdout ?? ''}\n${run.stderr ?? ''}`);
    }
  }
}
