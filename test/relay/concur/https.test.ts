import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurError } from '../../../relay/concur/errors.js';
import { send } from '../../../relay/concur/http.js';
import { AllowedOrigins } from '../../../relay/concur/origins.js';

/**
 * Concur is spoken to over HTTPS: the client must use TLS for https URLs and verify the
 * certificate. A loopback HTTPS server with a self-signed certificate (test/helpers/tls) stands
 * in: this process does not trust it, so the call must fail before any request reaches it; a
 * child process told to trust it (NODE_EXTRA_CA_CERTS, read only at start-up) gets its answer.
 */

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..', '..');
const TLS = join(ROOT, 'test', 'helpers', 'tls');

let server: Server;
let url: string;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer({ key: readFileSync(join(TLS, 'key.pem')), cert: readFileSync(join(TLS, 'cert.pem')) }, (req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
    res.writeHead(200, { 'content-type': 'application/xml' }).end('<ok/>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('Concur over HTTPS', () => {
  it('refuses a certificate it cannot verify, before sending the token', async () => {
    const error = await send({
      method: 'GET',
      url: `${url}/api/v3.0/common/connectionrequests`,
      headers: { authorization: 'OAuth secret-token' },
      timeoutMs: 3000,
      maxBytes: 1024,
      allowedOrigins: new AllowedOrigins([url]),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConcurError);
    expect((error as ConcurError).kind).toBe('unavailable');
    expect((error as ConcurError).message).toMatch(/SELF_SIGNED|CERT/);
    expect(seen).toEqual([]);
  });

  it('talks TLS to a server whose certificate is trusted', async () => {
    const script = `
      import { send } from './relay/concur/http.ts';
      import { AllowedOrigins } from './relay/concur/origins.ts';
      const url = process.argv[1];
      const res = await send({ method: 'GET', url, headers: { authorization: 'OAuth t' }, timeoutMs: 3000, maxBytes: 1024, allowedOrigins: new AllowedOrigins([url]) });
      console.log(JSON.stringify({ status: res.status, body: res.body, type: res.headers.get('content-type') }));
    `;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script, `${url}/api/v3.0/common/connectionrequests?limit=10`],
        { cwd: ROOT, env: { ...process.env, NODE_EXTRA_CA_CERTS: join(TLS, 'cert.pem') }, timeout: 30_000 },
        (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ status: 200, body: '<ok/>', type: 'application/xml' });
    expect(seen).toEqual(['GET /api/v3.0/common/connectionrequests?limit=10 OAuth t']);
  });
});
