import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askDirectory, type DirectoryTarget, type Traveller } from '../../../relay/match/directory.js';
import { waitFor } from '../helpers.js';
import { DIRECTORY_SECRET } from './helpers.js';

/**
 * The README's example member directory is code a partner copies: it runs here as written (the
 * block after `<!-- example-directory -->`), as its own Node process, and the relay's own client
 * asks it. A signature it wrongly refused or wrongly accepted would show here.
 */

function exampleSource(): string {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const match = /<!-- example-directory -->\n```js\n([\s\S]*?)```/.exec(readme);
  if (match === null) throw new Error('README.md has no example directory after <!-- example-directory -->');
  return match[1]!;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let dir: string;
let child: ChildProcess;
let url: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'example-directory-'));
  const file = join(dir, 'directory.mjs');
  writeFileSync(file, exampleSource());
  const port = await freePort();
  child = spawn(process.execPath, [file], { env: { PATH: process.env.PATH, MATCH_SECRET: DIRECTORY_SECRET, PORT: String(port) }, stdio: 'pipe' });
  url = `http://127.0.0.1:${port}/`;
  await waitFor(async () => (await fetch(url, { method: 'POST' }).catch(() => null))?.status === 401, 10_000, 'the example directory to listen');
});
afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const target = (secret = DIRECTORY_SECRET): DirectoryTarget => ({ url, secret, timeoutMs: 5_000, allowPrivate: true });
const traveller = (loyaltyNumber: string, lastName: string): Traveller => ({
  requestId: 'REQ-1',
  firstName: 'Ada',
  middleName: null,
  lastName,
  loyaltyNumber,
});

describe("the README's example member directory", () => {
  it('is about twenty lines', () => {
    expect(exampleSource().trim().split('\n').length).toBeLessThanOrEqual(22);
  });

  it('answers member, name_mismatch and not_found to signed questions', async () => {
    expect(await askDirectory(target(), traveller('1234567', 'Lovelace'), Date.now())).toEqual({
      ok: true,
      answer: { result: 'member', memberId: 'M-1' },
    });
    expect(await askDirectory(target(), traveller('1234567', 'Byron'), Date.now())).toMatchObject({ ok: true, answer: { result: 'name_mismatch' } });
    expect(await askDirectory(target(), traveller('7654321', 'Lovelace'), Date.now())).toEqual({ ok: true, answer: { result: 'not_found' } });
  });

  it('refuses another secret and a stale timestamp with 401', async () => {
    const other = `whsec_${Buffer.from('another secret of thirty-two bytes!!').toString('base64')}`;
    expect(await askDirectory(target(other), traveller('1234567', 'Lovelace'), Date.now())).toMatchObject({ ok: false, note: expect.stringContaining('401') });
    expect(await askDirectory(target(), traveller('1234567', 'Lovelace'), Date.now() - 10 * 60_000)).toMatchObject({
      ok: false,
      note: expect.stringContaining('401'),
    });
  });
});
