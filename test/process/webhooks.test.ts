import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeliveriesPage, WebhookCreated } from '../../shared/models.js';
import { startSandbox, type RunningSandbox } from '../../relay/sandbox/server.js';
import { concurEnv, eventually, startRelayProcess, tempDb, type RelayProcess } from '../helpers/relay-process.js';
import { VERSIONS, type VersionCase } from '../relay/helpers.js';
import { Receiver, verifyAt } from '../relay/push/webhooks/helpers.js';

/**
 * Deliveries survive a crash exactly like replies do: the relay as its own process, polling the
 * sandbox (as Concur in API 3.0 and 3.2), killed with SIGKILL between accepting an event and
 * delivering it.
 */

const API_KEY = 'process-webhook-key-0123456789';
let sandbox: RunningSandbox;
let receiver: Receiver;
const relays: RelayProcess[] = [];


afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop('SIGKILL')));
  await receiver?.close();
  await sandbox.close();
});

/** A relay process on `db`, with the sandbox as Concur in `v`'s version. */
async function start(db: string, v: VersionCase): Promise<RelayProcess> {
  const relay = await startRelayProcess({
    ...concurEnv(sandbox, v.version),
    RELAY_API_KEYS: API_KEY,
    RELAY_DB: db,
    POLL_INTERVAL_SECONDS: '1',
    RELAY_WEBHOOK_ALLOW_PRIVATE: 'true',
  });
  relays.push(relay);
  return relay;
}

function api(relay: RelayProcess, path: string, init: RequestInit = {}) {
  return fetch(`${relay.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...init.headers },
  });
}

async function subscribe(relay: RelayProcess, url: string): Promise<WebhookCreated> {
  const res = await api(relay, '/api/v1/webhooks', { method: 'POST', body: JSON.stringify({ url, events: ['request.created'] }) });
  expect(res.status).toBe(201);
  return WebhookCreated.parse(await res.json());
}

async function deliveries(relay: RelayProcess, webhookId: string): Promise<DeliveriesPage> {
  return DeliveriesPage.parse(await (await api(relay, `/api/v1/webhooks/${webhookId}/deliveries`)).json());
}

function storedDeliveries(db: string): Array<{ state: string; attempts: number; message_id: string }> {
  const sqlite = new Database(db, { readonly: true });
  try {
    return sqlite.prepare('SELECT state, attempts, message_id FROM deliveries').all() as Array<{ state: string; attempts: number; message_id: string }>;
  } finally {
    sqlite.close();
  }
}

describe.each(VERSIONS)('webhook deliveries across a crash, API $version', (v) => {
  beforeEach(async () => {
    sandbox = await startSandbox({ seed: false, random: 5, ...v.sandbox });
  });

  it('SIGKILL while the first attempt is in flight: after the restart the message arrives, same webhook-id', async () => {
    receiver = await new Receiver().start();
    receiver.reply('hang');
    const db = tempDb();
    const first = await start(db, v);
    const { webhook, secret } = await subscribe(first, `${receiver.url}/hook`);

    const added = sandbox.state.add({ firstName: 'Katherine', lastName: 'Johnson' });
    // Polled, stored with its delivery, and on its way: the receiver holds the request open.
    const [inFlight] = await receiver.waitFor(1, 10_000);
    expect(JSON.parse(inFlight!.body)).toMatchObject({ type: 'request.created', data: { id: added.id } });
    expect(storedDeliveries(db)).toEqual([{ state: 'pending', attempts: 0, message_id: inFlight!.headers['webhook-id'] }]);

    await first.stop('SIGKILL');
    receiver.replies = [];
    receiver.fallback = { status: 200, body: 'thanks' };
    const second = await start(db, v);

    const [, again] = await receiver.waitFor(2, 10_000);
    expect(again!.headers['webhook-id']).toBe(inFlight!.headers['webhook-id']);
    expect(again!.body).toBe(inFlight!.body);
    expect(verifyAt(secret, again!, Date.now())).toMatchObject({ data: { id: added.id } });
    const log = await eventually(async () => {
      const page = await deliveries(second, webhook.id);
      return page.items[0]?.state === 'succeeded' && page;
    });
    expect(log.items).toHaveLength(1);
    expect(log.items[0]).toMatchObject({ attempts: 1, lastStatus: 200, attemptLog: [{ attempt: 1, status: 200, responseBody: 'thanks' }] });

    // The restart re-polls the same request: nothing is announced (or delivered) twice. A sweep
    // starts with the version's first list; two of them since: one whole sweep at least.
    const polls = () => sandbox.calls.list().filter((c) => c.route === 'list' && c.query.status === v.sweepLists[0]).length;
    const before = polls();
    await eventually(() => polls() >= before + 2);
    await second.stop('SIGTERM').then((code) => expect(code).toBe(0));
    expect(receiver.received).toHaveLength(2);
    expect(storedDeliveries(db)).toHaveLength(1);
    for (const relay of [first, second]) expect(relay.output.join('\n')).not.toContain(secret.slice(6));
  }, 40_000);

  it('SIGKILL while a failed delivery waits for its retry: after the restart the retry goes out on schedule', async () => {
    // The receiver is down: its port refuses connections.
    receiver = await new Receiver().start();
    const port = receiver.port;
    await receiver.close();
    const db = tempDb();
    const first = await start(db, v);
    const { webhook, secret } = await subscribe(first, `http://127.0.0.1:${port}/hook`);

    sandbox.state.add();
    await eventually(() => storedDeliveries(db).some((d) => d.attempts === 1), 10_000);
    const [failed] = (await deliveries(first, webhook.id)).items;
    expect(failed).toMatchObject({ state: 'pending', attempts: 1, lastError: 'the connection was refused (ECONNREFUSED)' });
    await first.stop('SIGKILL');

    receiver = await new Receiver().start(port);
    const second = await start(db, v);
    const [arrived] = await receiver.waitFor(1, 15_000);
    expect(arrived!.headers['webhook-id']).toBe(failed!.messageId);
    expect(verifyAt(secret, arrived!, Date.now())).toBeDefined();
    const log = await eventually(async () => {
      const page = await deliveries(second, webhook.id);
      return page.items[0]?.state === 'succeeded' && page;
    });
    const [one, two] = log.items[0]!.attemptLog;
    // Not before the 5 s (±20 %) the schedule asked for, though the process was killed in between.
    expect(Date.parse(two!.at) - Date.parse(one!.at)).toBeGreaterThanOrEqual(4000);
    expect(one!.nextAttemptAt).not.toBeNull();
    expect(Date.parse(two!.at)).toBeGreaterThanOrEqual(Date.parse(one!.nextAttemptAt!));
  }, 40_000);
});
