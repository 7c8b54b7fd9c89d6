import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestsPage, Summary } from '../../shared/models.js';
import { startSandbox, type RunningSandbox } from '../../relay/sandbox/server.js';
import {
  buildRelayBundle,
  eventually,
  RELAY_BUNDLE,
  runRelay,
  SHIPPED_NODE_ARGS,
  startRelayProcess,
  tempDb,
  type RelayProcess,
} from '../helpers/relay-process.js';

/**
 * The artifact that ships: `npm run build:relay` bundles the relay into dist/relay.mjs (its
 * dependencies inside, better-sqlite3 beside it in node_modules), and Docker and systemd run it
 * with plain `node`. The other process tests run the sources; these run the bundle, once built.
 */

const API_KEY = 'bundle-test-key-0123456789';
let sandbox: RunningSandbox;
const relays: RelayProcess[] = [];

beforeAll(async () => {
  buildRelayBundle();
  expect(existsSync(RELAY_BUNDLE)).toBe(true);
  sandbox = await startSandbox({ seed: false, random: 5 });
  for (let i = 0; i < 3; i++) sandbox.state.add();
}, 60_000);

afterAll(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop('SIGKILL')));
  await sandbox?.close();
});

describe('the built bundle (node dist/relay.mjs)', () => {
  it('starts, answers /healthz, polls Concur into SQLite and serves the API', async () => {
    const relay = await startRelayProcess(
      {
        CONCUR_BASE_URL: sandbox.url,
        CONCUR_ACCESS_TOKEN: sandbox.accessToken,
        RELAY_API_KEYS: API_KEY,
        RELAY_DB: tempDb(),
        POLL_INTERVAL_SECONDS: '1',
      },
      15_000,
      'bundle',
    );
    relays.push(relay);
    const health = await fetch(`${relay.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', poller: true });

    const headers = { authorization: `Bearer ${API_KEY}` };
    const summary = await eventually(async () => {
      const body = Summary.parse(await (await fetch(`${relay.url}/api/v1/summary`, { headers })).json());
      return body.counts.pending === 3 && body;
    });
    expect(summary.concur.state).toBe('ok');
    const page = RequestsPage.parse(await (await fetch(`${relay.url}/api/v1/requests?group=pending`, { headers })).json());
    expect(page.items).toHaveLength(3);
    // Logs are pino's JSON lines, bundled or not.
    expect(relay.output.some((line) => line.includes('"msg":"relay listening"'))).toBe(true);
    expect(await relay.stop('SIGTERM')).toBe(0);
  }, 30_000);

  it('refuses a bad configuration with one readable line per problem and no stack trace', async () => {
    const run = runRelay({ CONCUR_BASE_URL: 'ftp://concur', POLL_INTERVAL_SECONDS: '0', RELAY_PORT: 'http' }, 'bundle');
    expect(await run.exited).toBe(2);
    const text = run.output.join('\n');
    for (const variable of ['CONCUR_BASE_URL', 'POLL_INTERVAL_SECONDS', 'RELAY_PORT']) expect(text).toContain(variable);
    expect(text).not.toMatch(/^\s+at /m);
  });

  it('is started the same way by the Dockerfile, the systemd unit and npm run relay', () => {
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(cmd ?? 'null')).toEqual(['node', ...SHIPPED_NODE_ARGS]);
    const unit = readFileSync('deploy/triplink-relay.service', 'utf8');
    expect(/^ExecStart=(.*)$/m.exec(unit)?.[1]).toBe(['/usr/bin/node', ...SHIPPED_NODE_ARGS].join(' '));
    const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.relay).toBe(`npm run build:relay --silent && ${['node', ...SHIPPED_NODE_ARGS].join(' ')}`);
    expect(scripts['build:relay']).toContain(`--outfile=${RELAY_BUNDLE}`);
  });
});
