import { describe, expect, it } from 'vitest';
import type { ApiKey } from '../../../../shared/people.js';
import { keysTable, printable, shortTime } from '../../../../relay/boot/cli/table.js';

const alice: ApiKey = {
  id: 'key_P9Qr2BwU8Z84',
  name: 'Alice',
  role: 'replier',
  prefix: 'trl_ciVr',
  createdAt: '2026-12-06T09:15:03.123Z',
  lastUsedAt: '2026-12-06T10:00:00.000Z',
  revokedAt: null,
};
const office: ApiKey = {
  id: 'key_Zz9Yy8Xx7Ww6',
  name: 'back office',
  role: 'broker',
  prefix: 'trl_Q-_z',
  createdAt: '2026-12-05T08:00:00.000Z',
  lastUsedAt: null,
  revokedAt: '2026-12-06T11:30:59.999Z',
};

describe('keysTable', () => {
  it('lines up id, prefix, name, role, last used, created and revoked, one row per key', () => {
    expect(keysTable([alice, office])).toEqual([
      'ID                PREFIX    NAME         ROLE     LAST USED (UTC)      CREATED (UTC)        REVOKED (UTC)',
      'key_P9Qr2BwU8Z84  trl_ciVr  Alice        replier  2026-12-06 10:00:00  2026-12-06 09:15:03  -',
      'key_Zz9Yy8Xx7Ww6  trl_Q-_z  back office  broker   never                2026-12-05 08:00:00  2026-12-06 11:30:59',
    ]);
  });

  it('has the headings alone when there are no keys', () => {
    expect(keysTable([])).toEqual(['ID  PREFIX  NAME  ROLE  LAST USED (UTC)  CREATED (UTC)  REVOKED (UTC)']);
  });

  it('shows a name that would act on the terminal as plain text on one line', () => {
    const sneaky: ApiKey = { ...alice, name: 'Eve\n\u001b[2Jkey_fake  admin\u202e' };
    const lines = keysTable([sneaky]);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain('Eve??[2Jkey_fake  admin?');
    expect(lines.join('')).not.toMatch(/[\u0000-\u001f\u202e]/);
  });

  it('counts characters, not UTF-16 units, when lining up', () => {
    // Five suitcases are five characters (ten UTF-16 units): the column is five wide.
    const lines = keysTable([{ ...alice, name: '🧳🧳🧳🧳🧳' }, { ...office, name: 'Bo' }]);
    expect(lines[1]).toContain('  🧳🧳🧳🧳🧳  replier  ');
    expect(lines[2]).toContain('  Bo     broker   ');
  });
});

describe('printable and shortTime', () => {
  it('keeps ordinary text, accents and emoji as they are', () => {
    expect(printable('Zoë 🧳 – ops')).toBe('Zoë 🧳 – ops');
  });
  it('gives a stored time to the second, or the word for none', () => {
    expect(shortTime('2026-12-06T09:15:03.123Z', '-')).toBe('2026-12-06 09:15:03');
    expect(shortTime(null, 'never')).toBe('never');
  });
});
