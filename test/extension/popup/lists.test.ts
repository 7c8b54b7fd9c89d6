import { describe, expect, it } from 'vitest';
import type { ConnectionRequest } from '../../../shared/models.js';
import { askingKey, groupLists } from '../../../extension/popup/lists.js';
import { DIRECTORY_GRACE_MS } from '../../../extension/lib/attention.js';
import { MIN, NOW, ago, reply, request } from '../helpers/popup-fixtures.js';

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
    expect(groupLists(items, NOW, true).pending.map((r) => r.id)).toEqual([notFound.id, older.id, autoNewest.id, askingNew.id]);
  });

  it('once the directory’s grace is over, the unanswered request joins those that wait for a person', () => {
    const later = NOW + DIRECTORY_GRACE_MS;
    expect(groupLists(items, later, true).pending.map((r) => r.id)).toEqual([askingNew.id, notFound.id, older.id, autoNewest.id]);
  });

  it('on a relay without a directory only auto replies go last (there are none): plain newest first', () => {
    const plain = byId(older, notFound, askingNew);
    expect(groupLists(plain, NOW, false).pending.map((r) => r.id)).toEqual([askingNew.id, notFound.id, older.id]);
  });

  it('askingKey changes when a request’s grace ends, not with every tick', () => {
    expect(askingKey(items, NOW, true)).toBe(askingKey(items, NOW + 1_000, true));
    expect(askingKey(items, NOW, true)).not.toBe(askingKey(items, NOW + DIRECTORY_GRACE_MS, true));
    expect(askingKey(items, NOW, false)).toBe('');
  });
});
