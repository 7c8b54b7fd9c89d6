import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A bare HTTP server on loopback for the few answers the sandbox must never give
 * (hostile XML, endless bodies): the client is still tested over a real socket.
 * `host` may name another loopback address (127.0.0.2): a second "host" for tests of where
 * the relay's token may go.
 */
export async function fixtureServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: { host?: '127.0.0.1' | '127.0.0.2' } = {},
): Promise<{ url: string; host: string; port: number; close(): Promise<void> }> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
