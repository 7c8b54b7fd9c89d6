import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { createApp } from '../../relay/api/app.js';
import { staticToken } from '../../relay/concur/auth.js';
import { ConcurClient } from '../../relay/concur/client.js';
import { DEFAULT_CORS_ORIGINS } from '../../relay/base/config-shape.js';
import { createLogger } from '../../relay/base/log.js';
import { Metrics } from '../../relay/base/metrics.js';
import { type Poller, createPoller } from '../../relay/ingest/poller.js';
import { openStore } from '../../relay/store/index.js';
import { serveParent } from './lib.js';
import { TEST_VAULT } from '../helpers/vault.js';

/**
 * The hostile benchmark's relay process: the relay's app (as runtime.ts builds it, its log to
 * /dev/null) over a store in `argv[2]`, and a poller pointed at the hostile Concur in `argv[3]`,
 * started and stopped on the parent's word (`{poll: true|false}`). While on, it sweeps back to back
 * (interval 1 ms; a refused page is not backed off), so every moment of the measurement has a
 * hostile answer in flight or being refused. Answers `{sweeps}`: the sweeps since the last word.
 */

const [dbPath = '', concurUrl = ''] = process.argv.slice(2);

const store = openStore(dbPath, { vault: TEST_VAULT });
const logger = createLogger({ level: 'info', destination: pino.destination({ dest: '/dev/null', sync: false }) });
const app = createApp({
  store,
  corsOrigins: DEFAULT_CORS_ORIGINS,
  outbox: { kick: () => undefined },
  metrics: new Metrics(),
  logger,
});

let sweeps = 0;
const client = new ConcurClient({ baseUrl: concurUrl, auth: staticToken('bench-token'), timeoutMs: 10_000 });
let poller: Poller | null = null;

const url = await new Promise<string>((resolve, reject) => {
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
    resolve(`http://127.0.0.1:${info.port}`),
  ) as Server;
  server.once('error', reject);
});

serveParent(async (message) => {
  const counted = sweeps;
  sweeps = 0;
  await poller?.stop();
  poller = null;
  if (message.poll === true) {
    poller = createPoller({ client, store, intervalMs: 1, logger, metrics: { recordPoll: () => void sweeps++ } });
    poller.start();
  }
  return { sweeps: counted, state: store.state.concurStatus().state, lastError: store.state.concurStatus().lastError };
});
process.send?.({ ready: { url } });
