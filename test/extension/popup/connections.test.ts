import { describe, expect, it } from 'vitest';
import { NO_CONNECTIONS, connectionsFrom, withConnection } from '../../../extension/popup/connections.js';
import { MIN, ago, connection, request } from '../helpers/popup-fixtures.js';

describe('the popup’s connections, by request', () => {
  it('a listed snapshot (newest first) keeps the newest connection of each request', () => {
    const a = request();
    const b = request();
    const newest = connection(a, { id: 'con_new', connectedAt: ago(MIN) });
    const older = connection(a, { id: 'con_old', connectedAt: ago(9 * MIN), state: 'revoked' });
    const map = connectionsFrom([newest, connection(b), older]);
    expect(map.size).toBe(2);
    expect(map.get(a.id)?.id).toBe('con_new');
    expect(map.get(b.id)?.requestId).toBe(b.id);
  });

  it('an event’s connection replaces its request’s; data that does not fit the model changes nothing', () => {
    const a = request();
    const first = withConnection(NO_CONNECTIONS, connection(a));
    expect(first.get(a.id)?.state).toBe('active');
    const broken = withConnection(first, connection(a, { state: 'refresh_failed', lastError: 'invalid_grant' }));
    expect(broken.get(a.id)).toMatchObject({ state: 'refresh_failed', lastError: 'invalid_grant' });
    // The earlier map is left as it was (the state is immutable).
    expect(first.get(a.id)?.state).toBe('active');
    expect(withConnection(broken, { ...connection(a), state: 'half' })).toBe(broken);
    // What is kept is the shared model's shape: a token sent along by mistake is not kept with it.
    const leaky = withConnection(broken, { ...connection(a), accessToken: 'secret' });
    expect(leaky.get(a.id)?.state).toBe('active');
    expect(JSON.stringify([...leaky.values()])).not.toContain('secret');
  });
});
