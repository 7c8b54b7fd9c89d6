import { describe, expect, it } from 'vitest';
import type { ConnectionRequest } from '../../../shared/models.js';
import { groupLists } from '../../../extension/popup/lists.js';
import { MIN, ago, reply, request } from '../helpers/popup-fixtures.js';

const byId = (...items: ConnectionRequest[]) => new Map(items.map((r) => [r.id, r]));
const at = (ms: number) => ({ firstSeenAt: ago(ms), lastModified: ago(ms) });

describe('the Pending tab’s order', () => {
  // Newest first within each part; the newest of all is being auto-connected.
  const autoNewest = request({ status: 'Pending', ...at(10_000), reply: reply('CRSUC', { state: 'exchanging', requestedBy: 'auto' }) });
  const askingNew = request({ status: 'Pending', ...at(20_000) });
  const notFound = request({ status: 'Pending', ...at(3 * MIN), match: { result: 'not_found', note: null, at: ago(3 * MIN) } });
  const older = request({ status: 'Pending', ...at(9 * MIN), match: { result: 'unknown', note: 'timeout', at: ago(9 * MIN) } });
  const items = byId(older, autoNewest, notFound, askingNew);

  it('puts what waits for a person first, then what the relay handles, each newest first', () => {
    expect(groupLists(items, true).pending.map((r) => r.id)).toEqual([notFound.id, older.id, autoNewest.id, askingNew.id]);
  });

  it('an unanswered request stays with the relay’s however long the directory takes (the relay records an answer within its timeout)', () => {
    const askingLong = request({ status: 'Pending', ...at(30 * MIN) });
    expect(groupLists(byId(notFound, askingLong), true).pending.map((r) => r.id)).toEqual([notFound.id, askingLong.id]);
  });

  it('on a relay without a directory only auto replies go last (there are none): plain newest first', () => {
    const plain = byId(older, notFound, askingNew);
    expect(groupLists(plain, false).pending.map((r) => r.id)).toEqual([askingNew.id, notFound.id, older.id]);
  });
});
