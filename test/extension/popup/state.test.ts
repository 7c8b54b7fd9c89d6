import { describe, expect, it } from 'vitest';
import type { ConnectionRequest } from '../../../shared/models.js';
import { RelayProblem } from '../../../extension/lib/problems.js';
import { displayCounts, groupLists } from '../../../extension/popup/lists.js';
import { initialState, reduce, type PopupAction, type PopupState } from '../../../extension/popup/state.js';
import { MIN, NOW, ago, connection, reply, request, summaryOf } from '../helpers/popup-fixtures.js';

const run = (state: PopupState, ...actions: PopupAction[]) => actions.reduce(reduce, state);

function loaded(items: ConnectionRequest[]): PopupState {
  const groups = { pending: [] as ConnectionRequest[], failed: [] as ConnectionRequest[], connected: [] as ConnectionRequest[] };
  for (const r of items) groups[r.group].push(r);
  return run(initialState, { type: 'load/done', summary: summaryOf(items), groups });
}

describe('popup state', () => {
  it('loads the groups newest first with the relay’s counts', () => {
    const old = request({ lastModified: ago(30 * MIN) });
    const fresh = request({ lastModified: ago(MIN) });
    const failed = request({ status: 'CREU1' });
    const state = loaded([old, failed, fresh]);
    expect(state.phase).toBe('ready');
    const lists = groupLists(state.items);
    expect(lists.pending.map((r) => r.id)).toEqual([fresh.id, old.id]);
    expect(lists.failed.map((r) => r.id)).toEqual([failed.id]);
    expect(displayCounts(state.summary, state.items)).toEqual({ pending: 2, failed: 1, connected: 0 });
  });

  it('shows a load problem, and keeps the data when only a refresh fails', () => {
    const failed = run(initialState, { type: 'load/failed', problem: { problem: 'unreachable' } });
    expect(failed.phase).toBe('error');
    const state = run(loaded([request()]), { type: 'load/start' }, { type: 'load/failed', problem: { problem: 'offline' } });
    expect(state.phase).toBe('ready');
    expect(state.problem).toEqual({ problem: 'offline' });
    expect(state.items.size).toBe(1);
  });

  it('adds a created request and moves an updated one; a summary event updates the counts', () => {
    const a = request();
    let state = loaded([a]);
    const b = request({ lastModified: ago(0) });
    state = run(state, { type: 'event', event: { id: '7', type: 'request.created', data: b } });
    expect(groupLists(state.items).pending.map((r) => r.id)).toEqual([b.id, a.id]);
    state = run(state, {
      type: 'event',
      event: { id: '8', type: 'request.updated', data: { ...a, status: 'CRSUC', group: 'connected', lastModified: ago(0) } },
    });
    expect(groupLists(state.items).connected.map((r) => r.id)).toEqual([a.id]);
    const summary = summaryOf([b, { ...a, group: 'connected' }]);
    state = run(state, { type: 'event', event: { id: '9', type: 'summary', data: JSON.stringify(summary) } });
    expect(displayCounts(state.summary, state.items)).toEqual({ pending: 1, failed: 0, connected: 1 });
  });

  it('ignores events whose data does not fit the models', () => {
    const state = loaded([request()]);
    const next = run(state, { type: 'event', event: { id: '1', type: 'request.created', data: { id: 'x' } } });
    expect(next.items).toBe(state.items);
  });

  it('replays events that arrived during a load over its snapshot, newer wins', () => {
    const a = request({ lastModified: ago(10 * MIN) });
    const updated = { ...a, status: 'CREU2' as const, group: 'failed' as const, lastModified: ago(MIN) };
    const stale = { ...a, status: 'Pending' as const, lastModified: ago(20 * MIN) };
    let state = run(initialState, { type: 'event', event: { id: '1', type: 'request.updated', data: updated } });
    state = run(state, { type: 'event', event: { id: '2', type: 'request.updated', data: stale } });
    state = run(state, { type: 'load/done', summary: summaryOf([a]), groups: { pending: [a], failed: [], connected: [] } });
    expect(state.items.get(a.id)?.status).toBe('CREU2');
    expect(state.buffered).toEqual([]);
  });

  it('the first load shows each group as it arrives, once the summary is in; a refresh replaces all at once', () => {
    const a = request();
    const f = request({ status: 'CREU1' });
    let state = run(initialState, { type: 'load/group', group: 'pending', items: [a] });
    expect(state.phase).toBe('loading');
    expect(state.loaded).toEqual({ pending: true, failed: false, connected: false });
    state = run(state, { type: 'load/summary', summary: summaryOf([a, f]) });
    expect(state.phase).toBe('ready');
    expect(groupLists(state.items).pending.map((r) => r.id)).toEqual([a.id]);
    expect(state.loading).toBe(true);
    state = run(state, { type: 'load/done', summary: summaryOf([a, f]), groups: { pending: [a], failed: [f], connected: [] } });
    expect(state.loaded).toEqual({ pending: true, failed: true, connected: true });
    expect(state.loading).toBe(false);
    // A refresh: its pieces are not applied one by one.
    const b = request({ lastModified: ago(0) });
    const refreshing = run(state, { type: 'load/start' });
    expect(run(refreshing, { type: 'load/group', group: 'pending', items: [a, b] })).toBe(refreshing);
    expect(run(refreshing, { type: 'load/summary', summary: summaryOf([a, b, f]) })).toBe(refreshing);
  });

  it('a live event that came first is not undone by an older list arriving', () => {
    const a = request({ lastModified: ago(10 * MIN) });
    const moved = { ...a, status: 'CREU2' as const, group: 'failed' as const, lastModified: ago(MIN) };
    let state = run(initialState, { type: 'event', event: { id: '1', type: 'request.updated', data: moved } });
    state = run(state, { type: 'load/group', group: 'pending', items: [a] });
    expect(state.items.get(a.id)?.status).toBe('CREU2');
  });

  it('sends a reply: sending, accepted (moved to its group, counts follow), then confirmed by Concur', () => {
    const a = request({ firstName: 'Zoë', lastName: 'Ång' });
    let state = run(loaded([a]), { type: 'reply/sending', id: a.id, code: 'CRSUC', idempotencyKey: 'k1' });
    expect(state.sends[a.id]).toMatchObject({ phase: 'sending', idempotencyKey: 'k1' });
    state = run(state, { type: 'reply/accepted', id: a.id, reply: reply('CRSUC') });
    expect(state.sends[a.id]).toBeUndefined();
    expect(groupLists(state.items).connected.map((r) => r.id)).toEqual([a.id]);
    expect(displayCounts(state.summary, state.items)).toEqual({ pending: 0, failed: 0, connected: 1 });
    expect(state.announcement).toMatchObject({ kind: 'status', text: 'Sent “Connected” for Zoë Ång.' });

    const sent = reply('CRSUC', { state: 'sent', attempts: 1, updatedAt: new Date(NOW + 1000).toISOString() });
    state = run(state, { type: 'event', event: { id: '3', type: 'reply.updated', data: { requestId: a.id, reply: sent } } });
    expect(state.announcement).toMatchObject({ kind: 'status', text: 'Concur accepted “Connected” for Zoë Ång.' });
    expect(groupLists(state.items).connected.map((r) => r.id)).toEqual([a.id]);
  });

  it('moves a request back with the error when Concur refuses the reply', () => {
    const a = request();
    let state = run(loaded([a]), { type: 'reply/sending', id: a.id, code: 'CRSUC', idempotencyKey: 'k1' }, { type: 'reply/accepted', id: a.id, reply: reply('CRSUC') });
    const refused = reply('CRSUC', { state: 'failed', attempts: 1, lastError: 'Invalid request token', updatedAt: new Date(NOW + 5000).toISOString() });
    state = run(state, { type: 'event', event: { id: '4', type: 'reply.updated', data: { requestId: a.id, reply: refused } } });
    expect(groupLists(state.items).pending.map((r) => r.id)).toEqual([a.id]);
    expect(state.announcement).toMatchObject({ kind: 'error' });
    expect(state.announcement?.text).toContain('Invalid request token');
  });

  it('announces once that a CRSUC of its own waits for a new token, and then its outcome', () => {
    const a = request({ firstName: 'Zoë', lastName: 'Ång' });
    const at = (s: number) => new Date(NOW + s * 1000).toISOString();
    const updated = (id: string, r: ReturnType<typeof reply>): PopupAction => ({
      type: 'event',
      event: { id, type: 'reply.updated', data: { requestId: a.id, reply: r } },
    });
    let state = run(loaded([a]), { type: 'reply/sending', id: a.id, code: 'CRSUC', idempotencyKey: 'k1' }, { type: 'reply/accepted', id: a.id, reply: reply('CRSUC') });
    const sentSeq = state.announcement!.seq;
    state = run(state, updated('1', reply('CRSUC', { state: 'exchanging', updatedAt: at(1) })));
    expect(state.announcement?.seq).toBe(sentSeq);
    state = run(state, updated('2', reply('CRSUC', { state: 'waiting_token', attempts: 1, updatedAt: at(2) })));
    expect(state.announcement).toMatchObject({ kind: 'status', text: 'Asked Concur for a new token for Zoë Ång; connecting goes on by itself.', seq: sentSeq + 1 });
    state = run(state, updated('3', reply('CRSUC', { state: 'waiting_token', attempts: 2, updatedAt: at(3) })));
    expect(state.announcement?.seq).toBe(sentSeq + 1);
    expect(groupLists(state.items).connected.map((r) => r.id)).toEqual([a.id]);
    state = run(state, updated('4', reply('CRSUC', { state: 'failed', attempts: 3, lastError: 'no new token left', updatedAt: at(4) })));
    expect(state.announcement).toMatchObject({ kind: 'error', text: 'Concur refused “Connected” for Zoë Ång: no new token left' });
    expect(groupLists(state.items).pending.map((r) => r.id)).toEqual([a.id]);
  });

  it('keeps the idempotency key of a failed send for the retry', () => {
    const a = request();
    const state = run(
      loaded([a]),
      { type: 'reply/sending', id: a.id, code: 'CREU1', idempotencyKey: 'k9' },
      { type: 'reply/failed', id: a.id, problem: { problem: 'unreachable' } },
    );
    expect(state.sends[a.id]).toMatchObject({ phase: 'failed', code: 'CREU1', idempotencyKey: 'k9' });
    expect(state.sends[a.id]?.error).toContain('The relay does not answer');
    expect(groupLists(state.items).pending.map((r) => r.id)).toEqual([a.id]);
  });

  it('does not announce replies sent by someone else', () => {
    const a = request();
    const state = run(loaded([a]), {
      type: 'event',
      event: { id: '5', type: 'reply.updated', data: { requestId: a.id, reply: reply('CREU1', { state: 'sent' }) } },
    });
    expect(state.announcement).toBeNull();
  });

  it('keeps a reply it knows of when a refresh snapshot does not show it yet', () => {
    const a = request();
    let state = run(loaded([a]), { type: 'reply/accepted', id: a.id, reply: reply('CRSUC') });
    state = run(state, { type: 'load/start' }, { type: 'load/done', summary: summaryOf([a]), groups: { pending: [a], failed: [], connected: [] } });
    expect(groupLists(state.items).connected.map((r) => r.id)).toEqual([a.id]);
  });

  it('a refused key turns even a list on screen into that problem: a refresh, a reply or the live stream', () => {
    const a = request();
    const refused = { problem: 'key_refused' } as const;
    const afterRefresh = run(loaded([a]), { type: 'load/start' }, { type: 'load/failed', problem: refused });
    expect(afterRefresh).toMatchObject({ phase: 'error', problem: refused, loading: false });

    const afterReply = run(
      loaded([a]),
      { type: 'reply/sending', id: a.id, code: 'CRSUC', idempotencyKey: 'k1' },
      { type: 'reply/failed', id: a.id, problem: refused },
    );
    expect(afterReply).toMatchObject({ phase: 'error', problem: refused });
    // Another failed reply leaves the list as it was.
    const other = run(
      loaded([a]),
      { type: 'reply/sending', id: a.id, code: 'CRSUC', idempotencyKey: 'k1' },
      { type: 'reply/failed', id: a.id, problem: { problem: 'forbidden', detail: 'a viewer' } },
    );
    expect(other).toMatchObject({ phase: 'ready', problem: null });

    const afterStream = run(loaded([a]), { type: 'load/start' }, { type: 'live/refused' });
    expect(afterStream).toMatchObject({ phase: 'error', problem: refused, loading: false, buffered: [] });
    // A working key again (Try again, once the relay takes it): the list comes back.
    expect(run(afterStream, { type: 'load/start' }, { type: 'load/done', summary: summaryOf([a]), groups: { pending: [a], failed: [], connected: [] } })).toMatchObject({
      phase: 'ready',
      problem: null,
    });
  });

  it('keeps the connections by request: a listed load replaces them, a load without a list keeps them, another relay forgets them', () => {
    const a = request({ status: 'CRSUC' });
    const b = request({ status: 'CRSUC' });
    const groups = { pending: [], failed: [], connected: [a, b] };
    let state = run(initialState, { type: 'load/done', summary: summaryOf([a, b]), groups, connections: [connection(a), connection(b, { state: 'revoked' })] });
    expect([...state.connections.keys()].sort()).toEqual([a.id, b.id].sort());
    expect(state.connections.get(b.id)?.state).toBe('revoked');
    state = run(state, { type: 'event', event: { id: '1', type: 'connection.updated', data: connection(a, { state: 'refresh_failed' }) } });
    expect(state.connections.get(a.id)?.state).toBe('refresh_failed');
    const kept = run(state, { type: 'load/start' }, { type: 'load/done', summary: summaryOf([a, b]), groups });
    expect(kept.connections).toBe(state.connections);
    const listed = run(state, { type: 'load/start' }, { type: 'load/done', summary: summaryOf([a, b]), groups, connections: [connection(a)] });
    expect([...listed.connections.values()].map((c) => [c.requestId, c.state])).toEqual([[a.id, 'active']]);
    expect(run(listed, { type: 'reset' }).connections.size).toBe(0);
  });

  it('turns a thrown RelayProblem into its problem', async () => {
    const { toProblem } = await import('../../../extension/popup/state.js');
    expect(toProblem(new RelayProblem('relay_error', 'boom'))).toEqual({ problem: 'relay_error', detail: 'boom' });
    expect(toProblem(new TypeError('x'))).toEqual({ problem: 'relay_error' });
  });
});
