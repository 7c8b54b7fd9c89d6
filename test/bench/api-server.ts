import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { pino } from 'pino';
import { ROLES } from '../../shared/roles.js';
import { createApp } from '../../relay/api/app.js';
import { DEFAULT_CORS_ORIGINS } from '../../relay/base/config-shape.js';
import { createLogger } from '../../relay/base/log.js';
import { Metrics } from '../../relay/base/metrics.js';
import { openStore, type StoreParts } from '../../relay/store/index.js';
import { openPgStore } from '../../relay/store/postgres/index.js';
import { serveParent } from './lib.js';
import { LIST_PATH, seededRecords } from './records.js';
import { TEST_VAULT } from '../helpers/vault.js';

/**
 * The API benchmark's server process: the relay's app (createApp, as runtime.ts builds it, with
 * its request log written by pino to /dev/null, as production writes it to stdout) over a store
 * of `argv[3]` pending requests in `argv[2]`, and beside it a bare Hono app whose one route
 * answers the very bytes the relay's GET /api/v1/requests?group=pending&limit=50 answered.
 * A second relay app runs over `argv[5]`, the same requests with `argv[6]` API keys of every
 * role besides RELAY_API_KEYS, called with one of those keys (a viewer's): what the key records
 * and the role check cost when there are many people. With a PostgreSQL URL in `argv[7]`, a third
 * relay app runs over the store on that database (openPgStore, its default pool, as RELAY_DB=
 * postgres://… opens it), with the same requests and the env key. All listen on loopback in this
 * one process; the load generator runs in the parent (PostgreSQL's server in processes of its own).
 */

const [dbPath = '', countArg = '1000', apiKey = '', keysDbPath = '', keysArg = '1000', pgUrl = ''] = process.argv.slice(2);
const records = seededRecords(Number(countArg));

/** A relay app over `store`, filled with the seeded requests, the env key and `keyCount` more keys; the secret to call it with. */
async function relayOver(store: StoreParts, keyCount: number): Promise<{ url: string; secret: string }> {
  for (let i = 0; i < records.length; i += 100) await store.requests.upsertFromConcur(records.slice(i, i + 100), Date.now());
  await store.keys.syncEnvKeys([apiKey]);
  let secret = apiKey;
  for (let i = 0; i < keyCount; i++) {
    const role = ROLES[i % ROLES.length]!;
    const made = await store.keys.create({ name: `person ${i}`, role }, { keyId: null, name: 'bench' });
    if (role === 'viewer' && i >= keyCount / 2 && secret === apiKey) secret = made.secret;
  }
  const app = createApp({
    store,
    corsOrigins: DEFAULT_CORS_ORIGINS,
    outbox: { kick: () => undefined },
    metrics: new Metrics(),
    logger: createLogger({ level: 'info', destination: pino.destination({ dest: '/dev/null', sync: false }) }),
  });
  return { url: await listen(app.fetch), secret };
}

const relay = await relayOver(openStore(dbPath, { vault: TEST_VAULT }), 0);
const manyKeys = await relayOver(openStore(keysDbPath, { vault: TEST_VAULT }), Number(keysArg));
const onPostgres = pgUrl === '' ? null : await relayOver(await openPgStore(pgUrl, { vault: TEST_VAULT }), 0);

const sample = await fetch(`${relay.url}${LIST_PATH}`, { headers: { authorization: `Bearer ${apiKey}` } });
const bytes = new Uint8Array(await sample.arrayBuffer());
const contentType = sample.headers.get('content-type') ?? 'application/json';
const items = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { items: unknown[] }).items.length;
if (sample.status !== 200 || items !== 50) throw new Error(`the relay answered ${sample.status} with ${items} items`);
// The same page (its times of first sight differ: each store was filled when it was made).
const idsOf = (text: string) => (JSON.parse(text) as { items: Array<{ id: string }> }).items.map((item) => item.id).join();
const same = await fetch(`${manyKeys.url}${LIST_PATH}`, { headers: { authorization: `Bearer ${manyKeys.secret}` } });
const sameText = await same.text();
if (same.status !== 200 || idsOf(sameText) !== idsOf(Buffer.from(bytes).toString('utf8')) || Buffer.byteLength(sameText) !== bytes.length) {
  throw new Error(`the relay with many keys answered ${same.status}, not the same page`);
}
if (onPostgres !== null) {
  const page = await fetch(`${onPostgres.url}${LIST_PATH}`, { headers: { authorization: `Bearer ${apiKey}` } });
  const text = await page.text();
  if (page.status !== 200 || idsOf(text) !== idsOf(Buffer.from(bytes).toString('utf8')) || Buffer.byteLength(text) !== bytes.length) {
    throw new Error(`the relay on PostgreSQL answered ${page.status}, not the same page`);
  }
}

const bare = new Hono();
bare.get('/api/v1/requests', (c) => c.body(bytes, 200, { 'content-type': contentType }));
const bareUrl = await listen(bare.fetch);

serveParent(() => {
  const cpu = process.cpuUsage();
  return { cpuMs: (cpu.user + cpu.system) / 1000 };
});
process.send?.({ ready: { relayUrl: relay.url, keysUrl: manyKeys.url, keysSecret: manyKeys.secret, pgUrl: onPostgres?.url ?? null, bareUrl, bytes: bytes.length } });

function listen(fetch: Parameters<typeof serve>[0]['fetch']): Promise<string> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => resolve(`http://127.0.0.1:${info.port}`)) as Server;
    server.once('error', reject);
  });
}
