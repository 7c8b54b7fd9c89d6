import { describe, expect, it } from 'vitest';
import { concurProblem } from '../../../extension/lib/problems';

describe('concurProblem', () => {
  it('maps the relay’s Concur state', () => {
    expect(concurProblem('ok')).toBeUndefined();
    expect(concurProblem('unknown')).toBeUndefined();
    expect(concurProblem('degraded')).toBe('concur_degraded');
    expect(concurProblem('unauthorized')).toBe('concur_unauthorized');
  });
});
