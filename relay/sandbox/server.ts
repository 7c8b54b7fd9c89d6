import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { type Sandbox, type SandboxOptions, createSandbox } from './app.js';

export interface StartSandboxOptions extends SandboxOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Always loopback unless told otherwise. */
  hostname?: string;
}

export interface RunningSandbox extends Sandbox {
  /** `http://127.0.0.1:<port>`: the Concur instance URL (and OAuth geolocation). */
  url: string;
  port: number;
  accessToken: string;
  clientId: string;
  clientSecret: string;
  /** The first refresh token (the refresh grant rotates it). */
  refreshToken: string;
  /** Stops the demo timer, ends hanging requests, drops open connections, closes the server. */
  close(): Promise<void>;
}

/** Starts the sandbox over real HTTP. */
export async function startSandbox(options: StartSandboxOptions = {}): Promise<RunningSandbox> {
  const { port = 0, hostname = '127.0.0.1', ...sandboxOptions } = options;
  const sandbox = createSandbox(sandboxOptions);
  let server: Server;
  const info = await new Promise<AddressInfo>((resolve, reject) => {
    server = serve({ fetch: sandbox.app.fetch, port, hostname }, resolve) as Server;
    server.once('error', reject);
  });
  const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
  const url = `http://${host}:${info.port}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      // Sockets first, so hanging requests see their abort signal; then anything still waiting.
      server.closeAllConnections();
      sandbox.close();
    });
    return closing;
  };

  return {
    ...sandbox,
    url,
    port: info.port,
    accessToken: sandbox.credentials.accessToken,
    clientId: sandbox.credentials.clientId,
    clientSecret: sandbox.credentials.clientSecret,
    refreshToken: sandbox.credentials.refreshToken,
    close,
  };
}
