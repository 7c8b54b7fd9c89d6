import { defineConfig } from 'vitest/config';
import { WxtVitest } from 'wxt/testing/vitest-plugin';

/**
 * One `vitest run` for everything (CI's JSON report counts every test), in two projects:
 * - unit: the relay, the sandbox and the extension's logic (WXT's fake browser). Its global setup
 *   starts one throwaway PostgreSQL cluster for the run (test/helpers/postgres-setup.ts, about half
 *   a second) for the store's PostgreSQL tests;
 * - e2e: the built extension in a real Chromium against a relay in sandbox mode, and web-ext lint.
 *   Its global setup builds the extension once; its files run one at a time, after the unit
 *   tests, so that the browser's timing does not compete with them for the CPU;
 * - node-lts: the relay's tests once more on the Node.js LTS line it ships on (test/node-lts/).
 */
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [WxtVitest()],
        test: {
          name: 'unit',
          include: ['test/**/*.test.{ts,tsx}'],
          exclude: ['test/e2e/**', 'test/node-lts/**', 'node_modules/**'],
          globalSetup: 'test/helpers/postgres-setup.ts',
          testTimeout: 20_000,
          hookTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts'],
          globalSetup: 'test/e2e/global-setup.ts',
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'node-lts',
          include: ['test/node-lts/**/*.lts.test.ts'],
          // Last, on an idle machine: it runs the relay's tests again, on the Node line the relay ships on.
          sequence: { groupOrder: 2 },
          testTimeout: 10 * 60_000,
          hookTimeout: 10 * 60_000,
        },
      },
    ],
  },
});
