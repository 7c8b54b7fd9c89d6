import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConcurError } from '../../relay/concur/errors.js';
import { send } from '../../relay/concur/http.js';

/**
 * The HTTP layer's keep-alive behaviour over a real loopback server: connections are reused,
 * and one the server already closed (its idle timeout passed while the relay was busy) costs a
 * GET nothing.
 */

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function start(): Promise<{ url: string; connections: Socket[]; requests: string[] }> {
  const connections: Socket[] = [];
  const requests: string[] = [];
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  server.on('connection', (socket: Socket) => connections.push(socket));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections, requests };
}

const get = (url: string, method: 'GET' | 'PUT' = 'GET') =>
  send({ method, url, headers: {}, body: method === 'PUT' ? 'x' : undefined, timeoutMs: 3000, maxBytes: 1024 });

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
});
