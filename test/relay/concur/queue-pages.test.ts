import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientCredentialsGrant } from '../../../relay/concur/client-credentials.js';
import { ConcurClient } from '../../../relay/concur/client.js';
import { type RunningSandbox, startSandbox } from '../../../relay/sandbox/server.js';

/**
 * The relay's 3.2 client against the sandbox's 3.2 queue over real HTTP: JSON pages by integer
 * offset, and no request ever slips past a sweep because a PUT popped one: between pages, or racing
 * the pages (the gate holds a PUT until the page on the wire is answered).
 */

let sandbox: RunningSandbox;
beforeEach(async () => {
  sandbox = await startSandbox({ seed: 25, random: 3, ids: 'guid' });
});
afterEach(async () => {
  await sandbox.close();
});

function client(): ConcurClient {
  const auth = clientCredentialsGrant({ tokenUrl: `${sandbox.url}/oauth2/v0/token`, clientId: sandbox.clientId, clientSecret: sandbox.clientSecret });
  return new ConcurClient({ baseUrl: sandbox.url, auth, version: '3.2' });
}

// 3.2's queue: Pending and Processing (a list hands tokens out) alike, until a PUT pops them.
const queued = () =>
  sandbox.state
    .all()
    .filter((r) => (r.status === 'Pending' || r.status === 'Processing') && !sandbox.state.isPopped(r))
    .map((r) => r.id);

describe('the 3.2 client', () => {
  it('reads the whole queue as JSON by integer offset, with a Bearer token and no status filter', async () => {
    const all = await client().listAll({ status: 'Pending', limit: 10 });
    expect(all.map((r) => r.id)).toEqual(queued());
    expect(all[0]!.userId).toMatch(/^[0-9a-f-]{36}$/);
    expect(all.every((r) => r.emailAddresses.length > 0 && r.discountCode === null)).toBe(true);
    const lists = sandbox.calls.list().filter((call) => call.route === 'list');
    expect(lists.map((call) => [call.path, call.query, call.format, call.authScheme, call.auth])).toEqual(
      [0, 10, 20].map((offset) => ['/api/v3.2/common/connectionrequests/', { limit: '10', offset: String(offset) }, 'json', 'Bearer', 'ok']),
    );
  });

  it('refuses a status filter 3.2 does not have, and following a NextPage after PUTs', async () => {
    await expect(client().listPage({ status: 'Failed' })).rejects.toThrow(/API 3.2 has no status filter/);
    await expect(client().listPage({ nextPage: `${sandbox.url}/api/v3.2/common/connectionrequests/?offset=10` })).rejects.toThrow(RangeError);
  });

  it('PUTs {"status": …} as JSON, and the request leaves the queue', async () => {
    const c = client();
    const [first] = await c.listAll({ limit: 10 });
    await c.putStatus(first!.id, 'CRSUC');
    const put = sandbox.calls.list().find((call) => call.route === 'put');
    expect(put).toMatchObject({ status: 204, putStatus: 'CRSUC', path: `/api/v3.2/common/connectionrequests/${first!.id}` });
    expect((await c.listAll({ limit: 10 })).map((r) => r.id)).not.toContain(first!.id);
  });

  it('skips nothing when PUTs pop requests of pages already read, between two pages', async () => {
    const c = client();
    const before = queued();
    const seen: string[] = [];
    let replied = 0;
    for await (const page of c.pages({ limit: 10 })) {
      seen.push(...page.items.map((r) => r.id));
      // Answer three of this page before the next is read: each moves the queue one place left.
      for (const record of page.items.slice(0, 3)) await c.putStatus(record.id, replied++ % 2 === 0 ? 'CRSUC' : 'CREU1');
    }
    expect(new Set(seen)).toEqual(new Set(before));
    expect(replied).toBe(9);
  });

  it('skips nothing when PUTs race the pages on the wire', async () => {
    // Slow pages, fast PUTs: without the gate, a PUT answered while a page is on its way moves the
    // queue under that page and its first request is never read.
    sandbox.faults.add({ route: 'list', kind: 'latency', latencyMs: 40 });
    const c = client();
    const before = queued();
    const seen: string[] = [];
    const puts: Array<Promise<void>> = [];
    for await (const page of c.pages({ limit: 5 })) {
      seen.push(...page.items.map((r) => r.id));
      // Fired, not awaited: the next page is already on its way (read ahead).
      for (const record of page.items.slice(0, 2)) puts.push(c.putStatus(record.id, 'CRRET'));
    }
    await Promise.all(puts);
    expect(new Set(seen)).toEqual(new Set(before));
    expect(puts.length).toBeGreaterThanOrEqual(8);
    // Each CRRET popped its request for an hour.
    expect(sandbox.state.all().filter((r) => r.poppedUntil !== null)).toHaveLength(puts.length);
  });
});
