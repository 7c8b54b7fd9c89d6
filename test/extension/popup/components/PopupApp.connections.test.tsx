// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import type { ConnectionRequest } from '../../../../shared/models.js';
import { RelayProblem } from '../../../../extension/lib/problems.js';
import { POPUP_TEXT } from '../../../../extension/lib/texts.js';
import { MIN, ago, connection, fakeClient, fakeLive, reply, request, summaryOf, testDeps } from '../../helpers/popup-fixtures.js';
import { $, click, mount, row, rowIds, rows, settle, tab, unmountAll, waitFor } from '../../helpers/popup-dom.js';

/**
 * The Connected tab shows each request's connection (GET /api/v1/connections, kept current by
 * the connection.created / connection.updated live events): whether it works, and who made it. A
 * relay without that route shows the tab as before, and its live events still tell.
 */

beforeEach(() => fakeBrowser.reset());
afterEach(() => unmountAll());

const connectedBy = (by: string | null, minutes: number) =>
  request({ status: 'CRSUC', lastModified: ago(minutes * MIN), reply: reply('CRSUC', { state: 'sent', attempts: 1, requestedBy: by, updatedAt: ago(minutes * MIN) }) });

const stateOf = (root: ParentNode, r: ConnectionRequest) => $(row(root, r.id)!, '.connection')?.dataset.connection;
const lineOf = (root: ParentNode, r: ConnectionRequest) => $(row(root, r.id)!, '.connection')?.textContent;
const byOf = (root: ParentNode, r: ConnectionRequest) => $(row(root, r.id)!, '.reply-by')?.textContent;

async function openConnected(client: ReturnType<typeof fakeClient>, live = fakeLive()) {
  const mounted = await mount(testDeps(client, { followEvents: live.follow }));
  await waitFor(() => expect(client.connectionsCalls).toBe(1));
  await click(tab(mounted.root, 'connected'));
  return { ...mounted, live };
}

describe('popup: the connections in the Connected tab', () => {
  it('shows each connection’s state and who connected it, from the relay’s list', async () => {
    const alice = connectedBy('Alice', 2);
    const auto = connectedBy('auto', 3);
    const broken = connectedBy('Bob', 4);
    const gone = connectedBy('Bob', 5);
    const concur = request({ status: 'Connected', lastModified: ago(6 * MIN) });
    const client = fakeClient([alice, auto, broken, gone, concur]);
    client.connectionsValue = [
      connection(alice, { connectedBy: 'Alice', connectedAt: ago(2 * MIN) }),
      connection(auto, { connectedBy: 'auto', connectedAt: ago(3 * MIN) }),
      connection(broken, { state: 'refresh_failed', connectedBy: 'Bob', lastError: 'invalid_grant' }),
      connection(gone, { state: 'revoked', connectedBy: 'Bob' }),
    ];
    const { root } = await openConnected(client);
    await waitFor(() => expect(stateOf(root, alice)).toBe('active'));
    expect(rowIds(root)).toEqual([alice.id, auto.id, broken.id, gone.id, concur.id]);

    expect(lineOf(root, alice)).toBe(POPUP_TEXT.connection.active(null, null));
    expect(byOf(root, alice)).toBe('Connected by Alice · 2 min ago');
    expect(byOf(root, auto)).toBe('Connected automatically · 3 min ago');
    expect(stateOf(root, broken)).toBe('refresh_failed');
    expect(lineOf(root, broken)).toBe(POPUP_TEXT.connection.refreshFailed('invalid_grant'));
    expect(lineOf(root, broken)).toMatch(/^Connection broken: the traveller must connect again/);
    expect(stateOf(root, gone)).toBe('revoked');
    // A request Concur shows connected without a connection at the relay: as before.
    expect($(row(root, concur.id)!, '.connection')).toBeNull();
  });

  it('live events keep it current: a connection made, then broken, then made again', async () => {
    const a = connectedBy('Alice', 2);
    const client = fakeClient([a]);
    client.connectionsValue = [];
    const { root, live } = await openConnected(client);
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    expect(stateOf(root, a)).toBeUndefined();

    await live.emit('connection.created', connection(a, { connectedBy: 'Alice' }));
    expect(stateOf(root, a)).toBe('active');
    await live.emit('connection.updated', connection(a, { state: 'refresh_failed', lastError: 'invalid_grant' }));
    expect(stateOf(root, a)).toBe('refresh_failed');
    expect(lineOf(root, a)).toBe(POPUP_TEXT.connection.refreshFailed('invalid_grant'));
    await live.emit('connection.updated', connection(a, { connectedBy: 'auto', lastRefreshedAt: ago(0) }));
    expect(lineOf(root, a)).toBe('Connection active · tokens refreshed just now');
    expect(byOf(root, a)).toMatch(/^Connected automatically · /);
    // Data that does not fit the shared model changes nothing.
    await live.emit('connection.updated', { id: 'con_x', requestId: a.id, state: 'exploded' });
    expect(stateOf(root, a)).toBe('active');
  });

  it('a relay without the route (404): the tab works as before, and the live events still bring the state, across refreshes', async () => {
    const a = connectedBy('Alice', 2);
    const b = connectedBy('Bob', 3);
    const client = fakeClient([a, b]);
    client.connectionsValue = null;
    const { root, live } = await openConnected(client);
    await waitFor(() => expect(rows(root)).toHaveLength(2));
    expect($(root, '.connection')).toBeNull();
    expect(byOf(root, a)).toBe('Connected by Alice · 2 min ago');
    expect($(root, '.state-error, .banner')).toBeNull();

    await live.emit('connection.created', connection(a));
    expect(stateOf(root, a)).toBe('active');
    // A refresh that cannot list connections keeps what the events told.
    await click($(root, '[data-action="refresh"]'));
    await waitFor(() => expect(client.connectionsCalls).toBe(2));
    await settle();
    expect(stateOf(root, a)).toBe('active');
    expect(stateOf(root, b)).toBeUndefined();
  });

  it('a list that fails to load leaves the requests shown, and the next load brings it', async () => {
    const a = connectedBy('Alice', 2);
    const client = fakeClient([a]);
    client.connectionsSnapshot = async () => {
      client.connectionsCalls += 1;
      if (client.connectionsCalls === 1) throw new RelayProblem('relay_error', 'database is locked');
      return { value: [connection(a, { state: 'refresh_failed' })], eventId: client.eventId };
    };
    const { root } = await openConnected(client);
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    expect($(root, '.state-error, .banner')).toBeNull();
    expect(stateOf(root, a)).toBeUndefined();
    await click($(root, '[data-action="refresh"]'));
    await waitFor(() => expect(stateOf(root, a)).toBe('refresh_failed'));
  });

  it('the relay’s list replaces what an earlier one said; events during a load are applied over it', async () => {
    const a = connectedBy('Alice', 2);
    const client = fakeClient([a]);
    client.connectionsValue = [connection(a)];
    const { root, live } = await openConnected(client);
    await waitFor(() => expect(stateOf(root, a)).toBe('active'));

    // The next load lists it revoked; an event while that load is on its way says broken (newer).
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    client.connectionsSnapshot = async () => {
      client.connectionsCalls += 1;
      await held;
      return { value: [connection(a, { state: 'revoked' })], eventId: client.eventId };
    };
    await click($(root, '[data-action="refresh"]'));
    await live.emit('connection.updated', connection(a, { state: 'refresh_failed', lastError: 'invalid_grant' }));
    release();
    await waitFor(() => expect(client.connectionsCalls).toBe(2));
    await settle();
    expect(stateOf(root, a)).toBe('refresh_failed');

    client.connectionsValue = [connection(a, { state: 'revoked' })];
    client.connectionsSnapshot = async () => ({ value: [...client.connectionsValue!], eventId: client.eventId });
    await click($(root, '[data-action="refresh"]'));
    await waitFor(() => expect(stateOf(root, a)).toBe('revoked'));
  });

  it('a connection list read before the stream’s start is read again; a relay without the route is not asked twice for it', async () => {
    for (const [listed, reads] of [
      [true, 2],
      [false, 1],
    ] as const) {
      const a = connectedBy('Alice', 2);
      const client = fakeClient([a]);
      client.connectionsValue = listed ? [connection(a)] : null;
      client.eventId = 9;
      // Only the connections stand before the stream's start (8 < 9 for a listed one).
      client.connectionsSnapshot = async () => {
        client.connectionsCalls += 1;
        return { value: client.connectionsValue, eventId: client.connectionsValue === null ? null : 8 };
      };
      const live = fakeLive();
      await mount(testDeps(client, { followEvents: live.follow }));
      await waitFor(() => expect(client.connectionsCalls).toBe(1));
      await settle();
      await live.open();
      await live.emit('summary', summaryOf([a]), 9);
      await settle();
      await settle();
      expect(client.connectionsCalls, listed ? 'listed at 8, stream from 9' : 'no route').toBe(reads);
      unmountAll();
    }
  });
});
