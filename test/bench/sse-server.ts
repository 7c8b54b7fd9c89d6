import { type ServerResponse, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { createApp } from '../../relay/api/app.js';
import { DEFAULT_CORS_ORIGINS } from '../../relay/base/config-shape.js';
import { createLogger } from '../../relay/base/log.js';
import { Metrics } from '../../relay/base/metrics.js';
import { openStore } from '../../relay/store/index.js';
import { serveParent } from './lib.js';
import { BENCH_API_KEY, seededRecords } from './records.js';
import { TEST_VAULT } from '../helpers/vault.js';

/**
 * The fan-out benchmark's server process, run with --expose-gc so that memory is read after a
 * full collection. `argv[2]` = 'relay': the relay's app (createApp, events route with its
 * production defaults) over a store in `argv[3]` holding 100 requests; 'bare': a node:http server
 * that keeps each GET /api/v1/events response in a Set and writes every event to all of them,
 * the least any SSE fan-out can do.
 *
 * Messages: `{cmd: 'mem'}` → memoryUsage after gc; `{cmd: 'publish', id}` → stores a new request
 * with that id (relay) or broadcasts it (bare) and answers `storedAt`, process.hrtime.bigint()
 * (CLOCK_MONOTONIC, the same clock in every process) right after the store returned.
 */

const [mode = 'relay', dbPath = ''] = process.argv.slice(2);
const template = seededRecords(1)[0]!;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('sse-server needs --expose-gc');

let publish: (id: string) => void;
let clients: () => number;
let url: string;

if (mode === 'relay') {
  const store = openStore(dbPath, { vault: TEST_VAULT });
  store.requests.upsertFromConcur(seededRecords(100), Date.now());
  const metrics = new Metrics();
  store.keys.syncEnvKeys([BENCH_API_KEY]);
  const app = createApp({
    store,
    corsOrigins: DEFAULT_CORS_ORIGINS,
    outbox: { kick: () => undefined },
    metrics,
    logger: createLogger({ level: 'info', destination: pino.destination({ dest: '/dev/null', sync: false }) }),
  });
  url = await new Promise<string>((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
      resolve(`http://127.0.0.1:${info.port}`),
    ) as Server;
    server.once('error', reject);
  });
  publish = (id) => {
    store.requests.upsertFromConcur([{ ...template, id, lastModified: new Date().toISOString().slice(0, 19) + 'Z' }], Date.now());
  };
  clients = () => metrics.sseClients;
} else {
  const open = new Set<ServerResponse>();
  let nextId = 1;
  const server = createServer((req, res) => {
    if (req.url !== '/api/v1/events' || req.headers.authorization !== `Bearer ${BENCH_API_KEY}`) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write('retry: 3000\n\n');
    open.add(res);
    res.on('close', () => open.delete(res));
  });
  url = await new Promise<string>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
  publish = (id) => {
    const message = `id: ${nextId++}\nevent: request.created\ndata: ${JSON.stringify({ ...template, id })}\n\n`;
    for (const res of open) res.write(message);
  };
  clients = () => open.size;
}

serveParent((message) => {
  switch (message.cmd) {
    case 'mem': {
      gc();
      gc();
      const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
      return { rss, heapUsed, external, arrayBuffers, clients: clients() };
    }
    case 'publish': {
      publish(String(message.eventId));
      return { storedAt: String(process.hrtime.bigint()) };
    }
    default:
      return { clients: clients() };
  }
});
process.send?.({ ready: { url } });
