import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * ARCHITECTURE.md's rules, checked on the tree as it is: which room may import which (nothing
 * imports upward; the sandbox stands alone), and rooms stay small (no source file over 350 lines,
 * no function over 150). A new edge or a grown room fails here with the place to look.
 */

const SOURCES = execFileSync('git', ['ls-files', '-co', '--exclude-standard', 'relay', 'extension', 'shared'], { encoding: 'utf8' })
  .split('\n')
  .filter((path) => /\.(ts|tsx)$/.test(path) && !path.endsWith('.d.ts'));

/** Rooms inside a room: a folder with its own entry in the map (and its own imports). */
const SUB_ROOMS = ['relay/store/postgres'];

/** The room a file belongs to: `shared`, a sub-room, or the first folder under `relay/` or `extension/`. */
function roomOf(path: string): string {
  const normalized = normalize(path);
  const sub = SUB_ROOMS.find((room) => normalized.startsWith(`${room}/`));
  if (sub) return sub;
  const parts = normalized.split('/');
  return parts[0] === 'shared' ? 'shared' : `${parts[0]}/${parts[1]}`;
}

/** Who may import whom (ARCHITECTURE.md, "Code map"); `shared` is open to every room. */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  shared: [],
  'relay/base': ['relay/vault'],
  'relay/concur': [],
  'relay/workers': [],
  'relay/vault': [],
  'relay/store': ['relay/concur', 'relay/vault'],
  // The store on PostgreSQL: the SQLite store's errors, time text and migration numbers, the
  // workers' Leadership interface.
  'relay/store/postgres': ['relay/store', 'relay/concur', 'relay/vault', 'relay/workers'],
  'relay/outbound': [],
  'relay/ingest': ['relay/base', 'relay/concur', 'relay/store', 'relay/workers', 'relay/vault'],
  'relay/replies': ['relay/base', 'relay/concur', 'relay/store', 'relay/workers'],
  'relay/connections': ['relay/base', 'relay/concur', 'relay/store', 'relay/workers'],
  'relay/push': ['relay/base', 'relay/store', 'relay/workers', 'relay/outbound'],
  'relay/match': ['relay/base', 'relay/store', 'relay/workers', 'relay/outbound'],
  'relay/api': ['relay/base', 'relay/store', 'relay/push', 'relay/replies', 'relay/connections', 'relay/outbound', 'relay/vault'],
  'relay/boot': ['relay/base', 'relay/concur', 'relay/vault', 'relay/store', 'relay/store/postgres', 'relay/workers', 'relay/outbound', 'relay/ingest', 'relay/replies', 'relay/connections', 'relay/push', 'relay/match', 'relay/api', 'relay/sandbox'],
  'relay/sandbox': [],
  'extension/lib': [],
  'extension/background': ['extension/lib'],
  'extension/popup': ['extension/lib'],
  'extension/options': ['extension/lib'],
  'extension/entrypoints': ['extension/lib', 'extension/background', 'extension/popup', 'extension/options'],
  // Files WXT reads from the extension's root (none today besides the folders above).
  'extension/public': [],
};

function relativeImports(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) found.push(match[1]!);
  return found;
}

describe('the house', () => {
  it('has a room in ARCHITECTURE.md for every folder with code', () => {
    const rooms = [...new Set(SOURCES.map(roomOf))].filter((room) => room.includes('/') && !room.endsWith('.ts'));
    expect(rooms.filter((room) => !(room in MAY_IMPORT))).toEqual([]);
    // relay/ and extension/ hold rooms, not loose files.
    expect(SOURCES.filter((path) => /^(relay|extension)\/[^/]+\.tsx?$/.test(path))).toEqual([]);
  });

  it('imports only downward: every edge between rooms is one the map allows', () => {
    const wrong: string[] = [];
    for (const path of SOURCES) {
      const from = roomOf(path);
      for (const spec of relativeImports(path)) {
        const target = normalize(join(dirname(path), spec));
        const to = roomOf(target);
        if (to === from || to === 'shared') continue;
        if (!(MAY_IMPORT[from] ?? []).includes(to)) wrong.push(`${path} imports ${spec} (${from} → ${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('speaks to each database from its own room: pg only in store/postgres, better-sqlite3 only in store', () => {
    const wrong: string[] = [];
    for (const path of SOURCES) {
      const text = readFileSync(path, 'utf8');
      const room = roomOf(path);
      if (/from\s+['"]pg['"]/.test(text) && room !== 'relay/store/postgres') wrong.push(`${path} imports pg`);
      if (/from\s+['"]better-sqlite3['"]/.test(text) && room !== 'relay/store') wrong.push(`${path} imports better-sqlite3`);
    }
    expect(wrong).toEqual([]);
  });

  it('keeps rooms small: no source file over 350 lines, no function over 150', () => {
    const big: string[] = [];
    for (const path of SOURCES) {
      const text = readFileSync(path, 'utf8');
      const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
      if (lines > 350) big.push(`${path}: ${lines} lines`);
      const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, path.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
      const visit = (node: ts.Node): void => {
        if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
          const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
          const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
          if (end - start + 1 > 150) big.push(`${path}:${start + 1}: a function of ${end - start + 1} lines`);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect(big).toEqual([]);
  });
});
