import { describe, expect, it } from 'vitest';
import { filterRequests, fold } from '../../../extension/popup/search.js';
import { request } from '../helpers/popup-fixtures.js';

describe('popup search', () => {
  const zoe = request({ firstName: 'Zoë', lastName: 'Ångström', loyaltyNumber: 'AB 1234-5678' });
  const bjorn = request({ firstName: 'Bjørn', lastName: 'Ødegård', loyaltyNumber: '99887766' });
  const all = [zoe, bjorn];

  it('ignores case and accents', () => {
    expect(fold('Zoë ÅNGSTRÖM')).toBe('zoe angstrom');
    expect(filterRequests(all, 'zoe')).toEqual([zoe]);
    expect(filterRequests(all, 'ANGSTROM')).toEqual([zoe]);
    expect(filterRequests(all, 'bjorn odegard')).toEqual([bjorn]);
  });

  it('matches loyalty numbers by digits, separators or not', () => {
    expect(filterRequests(all, '12345678')).toEqual([zoe]);
    expect(filterRequests(all, '1234 5678')).toEqual([zoe]);
    expect(filterRequests(all, '8877')).toEqual([bjorn]);
  });

  it('finds nothing for an unknown word, and everything for an empty query', () => {
    expect(filterRequests(all, 'nobody')).toEqual([]);
    expect(filterRequests(all, '  ')).toBe(all);
  });
});
