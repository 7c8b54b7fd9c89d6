import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConcurError } from '../../../relay/concur/errors.js';
import { send } from '../../../relay/concur/http.js';
import { AllowedOrigins } from '../../../relay/concur/origins.js';

/**
 * The HTTP layer over real loopback servers: connections are reused, one the server already
 * closed (its idle timeout passed while the relay was busy) costs a GET nothing, and a request
 * goes nowhere but its allowed origins.
 */

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function start(host = '127.0.0.1'): Promise<{ url: string; connections: Socket[]; requests: string[] }> {
  const connections: Socket[] = [];
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`.trim());
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  servers.push(server);
  server.on('connection', (socket: Socket) => connections.push(socket));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { url: `http://${host}:${(server.address() as AddressInfo).port}`, connections, requests };
}

/** A request to `url`, allowed to go to its own origin unless told otherwise. */
const get = (url: string, method: 'GET' | 'PUT' = 'GET', allowed = new AllowedOrigins([url])) =>
  send({
    method,
    url,
    headers: {},
    body: method === 'PUT' ? 'x' : undefined,
    timeoutMs: 3000,
    maxBytes: 1024,
    allowedOrigins: allowed,
  });

/** Closes the server's side of every connection and keeps this thread busy until the FIN has surely arrived, unread. */
function closeBehindTheClientsBack(connections: Socket[]): void {
  for (const socket of connections) socket.destroy();
  const until = Date.now() + 150;
  while (Date.now() < until) {
    // busy: the client's event loop cannot see the close before its next request
  }
}

describe('Concur HTTP', () => {
  it('reuses one connection for requests one after the other', async () => {
    const { url, connections } = await start();
    for (let i = 0; i < 5; i++) expect((await get(`${url}/page/${i}`)).body).toBe('ok');
    expect(connections).toHaveLength(1);
  });

  it('a GET on a connection the server closed while the relay was busy is asked again on a new one', async () => {
    const { url, connections, requests } = await start();
    expect((await get(`${url}/first`)).status).toBe(200);
    closeBehindTheClientsBack(connections);
    const res = await get(`${url}/second`);
    expect(res.status).toBe(200);
    expect(requests).toEqual(['GET /first', 'GET /second']);
    expect(connections).toHaveLength(2);
  });

  it('a PUT on such a connection is not repeated: it fails as unavailable, for the outbox to judge', async () => {
    const { url, connections, requests } = await start();
    expect((await get(`${url}/first`)).status).toBe(200);
    closeBehindTheClientsBack(connections);
    const outcome = await get(`${url}/reply`, 'PUT').then(
      (res) => res,
      (error: unknown) => error,
    );
    // Node 20's agent hands out the dead connection and the PUT fails unsent; newer agents (Node
    // 26, the line the relay ships on) notice the close first and send it once on a new connection.
    // Either way it is never sent twice.
    if (outcome instanceof ConcurError) {
      expect(outcome.kind).toBe('unavailable');
      expect(requests).toEqual(['GET /first']);
    } else {
      expect(outcome).toMatchObject({ status: 200 });
      expect(requests).toEqual(['GET /first', 'PUT /reply']);
    }
  });

  it('refuses a URL outside the allowed origins before opening a socket', async () => {
    const concur = await start();
    const elsewhere = [await start('127.0.0.2'), await start('127.0.0.1')];
    const allowed = new AllowedOrigins([concur.url]);
    for (const other of elsewhere) {
      for (const method of ['GET', 'PUT'] as const) {
        const err = await send({
          method,
          url: `${other.url}/api/v3.0/common/connectionrequests`,
          headers: { authorization: 'OAuth secret-token' },
          body: method === 'PUT' ? '<ConnectionRequest />' : undefined,
          timeoutMs: 3000,
          maxBytes: 1024,
          allowedOrigins: allowed,
        }).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(err).toBeInstanceOf(ConcurError);
        expect((err as ConcurError).kind).toBe('bad_response');
        expect((err as ConcurError).message).toContain(other.url);
        expect((err as ConcurError).message).not.toContain('secret-token');
      }
      expect(other.connections).toHaveLength(0);
      expect(other.requests).toEqual([]);
    }
    // Nor does a URL that names the allowed origin with a user name (which would otherwise ride along).
    const [host] = concur.url.slice('http://'.length).split(':');
    const withUser = concur.url.replace(`${host}`, `user:pw@${host}`);
    expect(await get(withUser, 'GET', allowed).catch((e: unknown) => e)).toBeInstanceOf(ConcurError);
    expect(concur.connections).toHaveLength(0);
    // The allowed origin itself is served.
    expect((await get(`${concur.url}/ok`, 'GET', allowed)).body).toBe('ok');
  });
});
