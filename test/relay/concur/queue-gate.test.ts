import { describe, expect, it } from 'vitest';
import { QueueGate } from '../../../relay/concur/queue-gate.js';

/** The gate between 3.2's list calls and PUTs: never both on the wire, served in order, every PUT counted. */

function deferred() {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets queued microtasks and promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('QueueGate', () => {
  it('lets calls of one kind run together, and holds the other kind until they have all been answered', async () => {
    const gate = new QueueGate();
    const log: string[] = [];
    const listA = deferred();
    const listB = deferred();
    const a = gate.run('list', async () => { log.push('list a starts'); await listA.promise; log.push('list a ends'); });
    const b = gate.run('list', async () => { log.push('list b starts'); await listB.promise; log.push('list b ends'); });
    const put = gate.run('put', async () => { log.push('put runs'); });
    await settle();
    expect(log).toEqual(['list a starts', 'list b starts']);
    listA.resolve();
    await settle();
    expect(log).not.toContain('put runs');
    listB.resolve();
    await Promise.all([a, b, put]);
    expect(log).toEqual(['list a starts', 'list b starts', 'list a ends', 'list b ends', 'put runs']);
  });

  it('serves kinds in the order they came: a list call behind a waiting PUT waits too, so PUTs are never starved', async () => {
    const gate = new QueueGate();
    const log: string[] = [];
    const first = deferred();
    const running = gate.run('list', async () => { await first.promise; log.push('list 1'); });
    const put = gate.run('put', async () => { log.push('put'); });
    const later = gate.run('list', async () => { log.push('list 2'); });
    await settle();
    expect(log).toEqual([]);
    first.resolve();
    await Promise.all([running, put, later]);
    expect(log).toEqual(['list 1', 'put', 'list 2']);
  });

  it('counts every PUT as a pop, one that failed too (it may have reached Concur), and nothing else', async () => {
    const gate = new QueueGate();
    await gate.run('list', async () => undefined);
    expect(gate.pops).toBe(0);
    await gate.run('put', async () => undefined);
    await expect(gate.run('put', async () => { throw new Error('timeout'); })).rejects.toThrow('timeout');
    expect(gate.pops).toBe(2);
    // The gate is free again after a failure.
    await expect(gate.run('list', async () => 'ok')).resolves.toBe('ok');
  });
});
