import { describe, expect, it } from 'vitest';
import { soleLeader } from '../../../relay/workers/leader.js';

describe('the sole relay on SQLite', () => {
  it('leads from the start until it stops, and says so once when it stops', async () => {
    const leadership = soleLeader();
    const heard: boolean[] = [];
    leadership.onChange((leader) => heard.push(leader));
    expect(leadership.isLeader()).toBe(true);
    await leadership.stop();
    expect(leadership.isLeader()).toBe(false);
    await leadership.stop();
    expect(heard).toEqual([false]);
  });

  it('stops telling a listener that removed itself', async () => {
    const leadership = soleLeader();
    const heard: boolean[] = [];
    const off = leadership.onChange((leader) => heard.push(leader));
    off();
    await leadership.stop();
    expect(heard).toEqual([]);
  });
});
