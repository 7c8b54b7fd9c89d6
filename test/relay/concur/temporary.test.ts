import { describe, expect, it } from 'vitest';
import { ConcurClient } from '../../../relay/concur/client.js';
import { staticToken } from '../../../relay/concur/auth.js';
import { temporary400 } from '../../../relay/concur/temporary.js';
import { startSandbox } from '../../../relay/sandbox/server.js';
import { concurFailure } from '../../helpers/concur.js';

/** Which 400s are temporary: the request limit and a database deadlock, and nothing else. */

describe('temporary400', () => {
  it.each([
    ['The number of requests received exceeds the request limit. Please retry later.', 'rate_limited'],
    ['The number of requests received exceed the request limit', 'rate_limited'],
    ['Request limit exceeded', 'rate_limited'],
    ['The request encountered a database deadlock. Resend the request a short time later.', 'unavailable'],
    ['Transaction (Process ID 61) was deadlocked on lock resources with another process', 'unavailable'],
  ])('%s → %s, transient', (message, kind) => {
    const error = temporary400(message, { status: 400, concurMessage: message });
    expect(error).toMatchObject({ kind, status: 400, concurMessage: message, transient: true });
  });

  it.each([
    'Connection request R1 is already Connected; its status can no longer be changed.',
    'The request is not formatted correctly.',
    "The value 'x' is not valid for limit.",
    'The limit must be between 1 and 10; it was 50.',
    'There is an error in XML document (1, 147).',
  ])('%s → final', (message) => {
    expect(temporary400(message, { status: 400 })).toBeUndefined();
  });

  it('reads Concur’s own message from the body, on a list call too', async () => {
    const sandbox = await startSandbox({ seed: 1 });
    try {
      await fetch(`${sandbox.url}/_sandbox/faults`, { method: 'POST', body: JSON.stringify({ route: 'list', kind: 'limit400', times: 1 }) });
      const client = new ConcurClient({ baseUrl: sandbox.url, auth: staticToken(sandbox.accessToken), accept: 'json' });
      const error = await concurFailure(client.listPage());
      expect(error).toMatchObject({ kind: 'rate_limited', status: 400 });
      expect(error.message).toBe('Concur received more requests than its limit (400): The number of requests received exceeds the request limit. Please retry later.');
      expect((await client.listPage()).items).toHaveLength(1);
    } finally {
      await sandbox.close();
    }
  });
});
