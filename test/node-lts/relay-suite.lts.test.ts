import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ensureLtsToolchain, LTS_NODE, ltsVersion, runRelayTestsOnLts, SQLITE_HOOK } from './toolchain.js';

/**
 * The relay ships on the current Node.js LTS line (Dockerfile: node:26) while development runs on
 * Node 20: its own tests run once more on the LTS binary, in a nested vitest run, with the relay
 * processes of the process tests on it too. One test here stands for that whole run; a failure
 * names the tests that failed there.
 */

describe(`the relay on the Node.js LTS line`, () => {
  it('has the LTS Node and a better-sqlite3 built for it, without any download from the web', () => {
    ensureLtsToolchain();
    const probe = spawnSync(
      LTS_NODE,
      ['--import', SQLITE_HOOK, '--input-type=module', '-e', "import D from 'better-sqlite3'; console.log(process.version, new D(':memory:').prepare('select sqlite_version() AS v').get().v)"],
      { encoding: 'utf8' },
    );
    expect(probe.stderr).toBe('');
    expect(probe.stdout.trim()).toMatch(new RegExp(`^v${ltsVersion().replace(/\./g, '\\.')} 3\\.\\d+\\.\\d+$`));
    expect(Number(ltsVersion().split('.')[0])).toBeGreaterThan(Number(process.versions.node.split('.')[0]));
  });

  it("passes the relay's own tests (store, Concur client, poller, outbox, API, events, webhooks, sandbox, processes)", async ({ signal }) => {
    ensureLtsToolchain();
    const run = await runRelayTestsOnLts(signal);
    const failed = (run.report?.testResults ?? []).flatMap((file) =>
      file.assertionResults.filter((t) => t.status === 'failed').map((t) => `${file.name}: ${t.fullName}\n${t.failureMessages.join('\n').slice(0, 600)}`),
    );
    expect(failed, `failed on Node ${ltsVersion()}`).toEqual([]);
    expect(run.report, `no report from the LTS run:\n${run.outputTail}`).toBeDefined();
    expect(run.exitCode, run.outputTail).toBe(0);
    // Every relay test ran, none was skipped: a run that collected nothing must not pass.
    expect(run.report!.numPendingTests).toBe(0);
    expect(run.report!.numPassedTests).toBe(run.report!.numTotalTests);
    expect(run.report!.numTotalTests).toBeGreaterThan(500);
  });
});
