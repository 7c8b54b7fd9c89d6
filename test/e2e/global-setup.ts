import { spawnSync } from 'node:child_process';

/**
 * Builds the extension once for the whole e2e project: `.output/chrome-mv3` (loaded into Chromium)
 * and `.output/firefox-mv2` (linted with web-ext). A failed build stops the run with its output.
 */
export default function buildExtension(): void {
  for (const args of [['wxt', 'build'], ['wxt', 'build', '-b', 'firefox']]) {
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
