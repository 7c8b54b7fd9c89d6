import type { ConcurRecord } from '../../relay/concur/record.js';
import { systemClock } from '../../relay/sandbox/clock.js';
import { toConcurRecord } from '../../relay/sandbox/records.js';
import { SandboxState } from '../../relay/sandbox/state.js';

/** What the benchmarks share besides lib.ts: realistic records and the API key of the servers they start. */

export const BENCH_API_KEY = 'bench-key-0123456789abcdef';
export const LIST_PATH = '/api/v1/requests?group=pending&limit=50';

/** `count` pending connection requests as Concur would send them (the sandbox's traveller generator, fixed seed). */
export function seededRecords(count: number, origin = 'https://www.concursolutions.com'): ConcurRecord[] {
  const state = new SandboxState(systemClock, 20_240_501);
  state.seed(count);
  return state.all().map((request) => {
    const record = toConcurRecord(request, origin, '3.0');
    // The sandbox keeps times in ms; the relay's record holds them as ISO text.
    return { ...record, lastModified: new Date(request.lastModified).toISOString(), userId: null, emailAddresses: [] };
  });
}
