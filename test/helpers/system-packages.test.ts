import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensurePrograms, type Machine, matchingPaths, newestMatch, POSTGRES_PROGRAM, type SystemProgram, thisMachine } from './system-packages.js';

/**
 * The test setup's promise to a fresh machine: a missing browser is installed from Debian's
 * packages when the machine allows it, and otherwise the run stops at once with the command to run.
 * apt itself is not run here (it is, for real, on every fresh CI machine): the machine is a
 * stand-in that records what would have been run.
 */

const BROWSER: SystemProgram = {
  purpose: 'The browser tests',
  path: '/usr/bin/example-browser',
  pathVariable: 'EXAMPLE_BROWSER_PATH',
  debianPackage: 'example-browser',
};

function machine(over: Partial<Machine> & { present?: string[]; installs?: string[]; aptFails?: boolean }): Machine & { ran: string[] } {
  const present = new Set(over.present ?? []);
  const ran: string[] = [];
  return {
    ran,
    isRoot: over.isRoot ?? true,
    isDebian: over.isDebian ?? true,
    exists: (path) => present.has(path),
    run: (command, args) => {
      ran.push(`${command} ${args.join(' ')}`);
      if (over.aptFails && args[0] === 'install') return { status: 100, output: 'E: Unable to locate package example-browser' };
      if (args[0] === 'install') for (const path of over.installs ?? []) present.add(path);
      return { status: 0, output: '' };
    },
  };
}

describe('ensurePrograms', () => {
  it('does nothing when the program is there', () => {
    const m = machine({ present: [BROWSER.path] });
    ensurePrograms([BROWSER], m);
    expect(m.ran).toEqual([]);
  });

  it('installs a missing program with apt as root on Debian, once for all programs of one package', () => {
    const m = machine({ installs: [BROWSER.path] });
    ensurePrograms([BROWSER, { ...BROWSER, purpose: 'The benchmarks' }], m);
    expect(m.ran).toEqual(['apt-get update -qq', 'apt-get install -y -qq --no-install-recommends example-browser']);
  });

  it('stops with the sudo command on Debian without root, running nothing', () => {
    const m = machine({ isRoot: false });
    expect(() => ensurePrograms([BROWSER], m)).toThrow(
      'run `sudo apt-get update && sudo apt-get install -y --no-install-recommends example-browser` once',
    );
    expect(m.ran).toEqual([]);
  });

  it('names the package and the variable to set on a machine without apt', () => {
    const m = machine({ isDebian: false });
    expect(() => ensurePrograms([BROWSER], m)).toThrow(/install example-browser and point EXAMPLE_BROWSER_PATH at it/);
    expect(m.ran).toEqual([]);
  });

  it("reports apt's own words when the install fails", () => {
    const m = machine({ aptFails: true });
    expect(() => ensurePrograms([BROWSER], m)).toThrow(/exit 100[\s\S]*Unable to locate package example-browser/);
  });

  it('fails when apt succeeded but the program is still missing', () => {
    const m = machine({ installs: [] });
    expect(() => ensurePrograms([BROWSER], m)).toThrow('/usr/bin/example-browser is still missing');
  });
});

describe('programs under a versioned folder (PostgreSQL: /usr/lib/postgresql/15/bin)', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'versions-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const place = (version: string, file?: string): void => {
    mkdirSync(join(root, version, 'bin'), { recursive: true });
    if (file) writeFileSync(join(root, version, 'bin', file), '');
  };

  it('finds every version that has the program, the highest version first (15 after 9 as numbers)', () => {
    place('9', 'postgres');
    place('15', 'postgres');
    place('16'); // the folder without the program
    expect(matchingPaths(join(root, '*/bin/postgres'))).toEqual([join(root, '15/bin/postgres'), join(root, '9/bin/postgres')]);
    expect(newestMatch(join(root, '*/bin/postgres'))).toBe(join(root, '15/bin/postgres'));
    expect(thisMachine.exists(join(root, '*/bin/postgres'))).toBe(true);
  });

  it('finds nothing when no version has it, or the folder itself is missing', () => {
    place('15', 'initdb');
    expect(matchingPaths(join(root, '*/bin/postgres'))).toEqual([]);
    expect(thisMachine.exists(join(root, 'none/*/bin/postgres'))).toBe(false);
  });

  it("asks for Debian's postgresql package when no version is installed", () => {
    const m = machine({ isRoot: false });
    expect(() => ensurePrograms([POSTGRES_PROGRAM], m)).toThrow('sudo apt-get install -y --no-install-recommends postgresql');
  });
});
