import { readFileSync, readdirSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The sandbox stands in for Concur in every test, so it must not borrow the relay's code: a codec
 * bug shared by both sides is invisible. Nothing under relay/sandbox/ may import from the rest of
 * relay/; shared/ (the status catalogue) and packages are fine.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SANDBOX = join(ROOT, 'relay', 'sandbox');
const ALLOWED = [SANDBOX, join(ROOT, 'shared')];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(?:[cm]?[jt]sx?)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every module a file names: static imports and re-exports (type-only too), import(), require(), reference paths. */
function specifiers(source: string): string[] {
  const info = ts.preProcessFile(source, true, true);
  return [...info.importedFiles, ...info.referencedFiles].map((ref) => ref.fileName);
}

function inside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** The specifiers in `source` (a file at `file`) that reach outside the sandbox and shared/. */
function violations(file: string, source: string): string[] {
  return specifiers(source).filter((spec) => {
    if (spec.startsWith('file:') || isAbsolute(spec)) return true;
    // A bare name is a package (node:fs, hono, zod); the repository has no path aliases.
    if (!spec.startsWith('.')) return false;
    const target = resolve(dirname(file), spec);
    return !ALLOWED.some((dir) => inside(target, dir));
  });
}

describe('the sandbox stands on its own', () => {
  const files = sourceFiles(SANDBOX);

  it('scans every source file of the sandbox, format/ included, and sees their imports', () => {
    const names = files.map((file) => relative(SANDBOX, file).split(sep).join('/'));
    expect(names).toEqual(expect.arrayContaining(['app.ts', 'concur-routes.ts', 'state.ts', 'format/xml.ts', 'format/put-body.ts']));
    const all = files.flatMap((file) => specifiers(readFileSync(file, 'utf8')));
    expect(all).toEqual(expect.arrayContaining(['./app.js', 'fast-xml-parser', '../../../shared/status.js']));
  });

  it('imports nothing from the rest of relay/', () => {
    const found = files.flatMap((file) =>
      violations(file, readFileSync(file, 'utf8')).map((spec) => `${relative(ROOT, file)}: ${spec}`),
    );
    expect(found).toEqual([]);
  });

  it('the check catches every form an import of the relay could take', () => {
    const file = join(SANDBOX, 'format', 'example.ts');
    const source = [
      "import { encodePage } from '../../concur/encode.js';",
      "import type { ConcurRecord } from '../../concur/record.js';",
      "export * from '../../store/index.js';",
      "export { decodePage } from '../../concur/decode.js';",
      "const later = await import('../../ingest/poller.js');",
      "import { STATUS_CODES } from '../../../shared/status.js';",
      "import { concurTime } from './time.js';",
      "import { XMLParser } from 'fast-xml-parser';",
    ].join('\n');
    expect(violations(file, source)).toEqual([
      '../../concur/encode.js',
      '../../concur/record.js',
      '../../store/index.js',
      '../../concur/decode.js',
      '../../ingest/poller.js',
    ]);
  });
});
