import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What the browser tests need from the operating system, brought by the test setup itself, so that
 * `npm ci && npm test` passes on a fresh machine with nothing but Node and npm: browsers come from
 * Debian's packages (never a download from the web). As root on Debian a missing package is
 * installed with apt; anywhere else the run stops at once with the one command that would fix it.
 * PostgreSQL for the store's tests comes the same way (postgres.ts).
 */

export interface SystemProgram {
  /** Who needs it, for the messages. */
  purpose: string;
  /**
   * Where the tests expect the program (an environment variable may point elsewhere). One `*`
   * segment stands for a versioned folder (PostgreSQL's `/usr/lib/postgresql/15/bin`): any entry
   * there will do, the newest first (`newestMatch`).
   */
  path: string;
  /** The variable that overrides `path`, named in the message for machines without apt. */
  pathVariable: string;
  /** The Debian package that provides `path`. */
  debianPackage: string;
}

export const CHROMIUM_PROGRAM: SystemProgram = {
  purpose: 'The browser end-to-end tests',
  path: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  pathVariable: 'CHROMIUM_PATH',
  debianPackage: 'chromium',
};

/** Debian's Firefox ESR, driven over WebDriver BiDi (puppeteer-core: no driver binary, no browser download). */
export const FIREFOX_PROGRAM: SystemProgram = {
  purpose: 'The Firefox end-to-end tests',
  path: process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr',
  pathVariable: 'FIREFOX_PATH',
  debianPackage: 'firefox-esr',
};

/**
 * Debian's PostgreSQL server (initdb and postgres), under its major version's folder: 15 on
 * Debian 12, whatever the release's `postgresql` package depends on elsewhere.
 */
export const POSTGRES_PROGRAM: SystemProgram = {
  purpose: 'The PostgreSQL store tests',
  path: process.env.RELAY_TEST_PG_BIN === undefined ? '/usr/lib/postgresql/*/bin/postgres' : join(process.env.RELAY_TEST_PG_BIN, 'postgres'),
  pathVariable: 'RELAY_TEST_PG_BIN (the folder with initdb and postgres)',
  debianPackage: 'postgresql',
};

/** Every existing path the pattern names (one `*` segment at most), the highest version first. */
export function matchingPaths(pattern: string): string[] {
  const star = pattern.indexOf('/*/');
  if (star < 0) return existsSync(pattern) ? [pattern] : [];
  const parent = pattern.slice(0, star);
  const rest = pattern.slice(star + 3);
  let entries: string[];
  try {
    entries = readdirSync(parent);
  } catch {
    return [];
  }
  return entries
    .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }))
    .map((entry) => join(parent, entry, rest))
    .filter((path) => existsSync(path));
}

/** The newest path the pattern names, or undefined. */
export function newestMatch(pattern: string): string | undefined {
  return matchingPaths(pattern)[0];
}

export type Runner = (command: string, args: readonly string[]) => { status: number | null; output: string };

const runCommand: Runner = (command, args) => {
  const run = spawnSync(command, args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 10 * 60_000,
  });
  return { status: run.status, output: `${run.stdout ?? ''}${run.stderr ?? ''}${run.error ? String(run.error) : ''}` };
};

export interface Machine {
  exists(path: string): boolean;
  isRoot: boolean;
  isDebian: boolean;
  run: Runner;
}

export const thisMachine: Machine = {
  exists: (path) => matchingPaths(path).length > 0,
  isRoot: process.getuid?.() === 0,
  isDebian: existsSync('/etc/debian_version') && existsSync('/usr/bin/apt-get'),
  run: runCommand,
};

/**
 * Makes sure every program is there. Installs the missing ones in one apt transaction when it can;
 * throws with the exact command otherwise (or when apt fails, with apt's last lines).
 */
export function ensurePrograms(programs: readonly SystemProgram[], machine: Machine = thisMachine): void {
  const missing = programs.filter((p) => !machine.exists(p.path));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((p) => p.debianPackage))];
  const install = `apt-get install -y --no-install-recommends ${packages.join(' ')}`;
  const needs = missing.map((p) => `${p.purpose} need ${p.path} (Debian package ${p.debianPackage})`).join('; ');
  if (!machine.isDebian || !machine.isRoot) {
    const how = machine.isDebian
      ? `run \`sudo apt-get update && sudo ${install}\` once`
      : `install ${packages.join(', ')} and point ${missing.map((p) => p.pathVariable).join(', ')} at it`;
    throw new Error(`${needs}, and it is missing. To fix: ${how}.`);
  }
  process.stderr.write(`[test setup] installing ${packages.join(', ')} with apt (needed by ${missing.map((p) => p.purpose.replace(/^The /, 'the ')).join(', ')})…\n`);
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...packages]]) {
    const run = machine.run('apt-get', args);
    if (run.status !== 0) {
      const tail = run.output.trim().split('\n').slice(-8).join('\n');
      throw new Error(`${needs}; \`apt-get ${args.join(' ')}\` failed (exit ${run.status}):\n${tail}`);
    }
  }
  const still = missing.filter((p) => !machine.exists(p.path));
  if (still.length > 0) {
    throw new Error(`apt installed ${packages.join(', ')}, but ${still.map((p) => p.path).join(', ')} is still missing.`);
  }
}
