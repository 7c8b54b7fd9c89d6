import { afterEach, describe, expect, it } from 'vitest';
import { REQUEST_TOKEN_LIFETIME_MS } from '../../../shared/status.js';
import type { Store } from '../../../relay/store/index.js';
import { record, StoreHarness } from './helpers.js';

/**
 * How long the store takes a request token to live, by the Concur API version it was opened with
 * (shared/status.ts REQUEST_TOKEN_LIFETIME_MS, the one place that assumes it): 15 minutes under
 * 3.0, a day under 3.2, counted from when the relay first saw the token. Every view says the same:
 * the request, its created event, and the facts the exchange decides by.
 */

let harness: StoreHarness;
afterEach(() => harness.cleanup());

const MIN = 60_000;

function open(apiVersion: '3.0' | '3.2'): { store: Store; seenAt: string } {
  harness = new StoreHarness();
  const store = harness.storeWith({ apiVersion });
  const seenAt = harness.clock.iso();
  store.requests.upsertFromConcur([record('A')], seenAt);
  return { store, seenAt };
}

const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

describe('a request token’s assumed lifetime', () => {
  it.each([
    ['3.0', 15 * MIN],
    ['3.2', 24 * 60 * MIN],
  ] as const)('%s: first seen + %i ms, on the request, its event and the exchange’s facts', (version, lifetime) => {
    expect(REQUEST_TOKEN_LIFETIME_MS[version]).toBe(lifetime);
    const { store, seenAt } = open(version);
    const expires = plus(seenAt, lifetime);
    expect(store.requests.get('A')!.requestTokenExpiresAt).toBe(expires);
    const created = store.events.after(0, 10).find((e) => e.type === 'request.created')!;
    expect((created.data as { requestTokenExpiresAt: string }).requestTokenExpiresAt).toBe(expires);
    expect(store.replies.exchangeFacts('A')).toMatchObject({ tokenIssuedAt: seenAt, tokenExpiresAt: expires });
  });

  it('a new token starts a new life: counted from when the relay saw it', () => {
    const { store } = open('3.2');
    harness.clock.advance(30 * MIN);
    const later = harness.clock.iso();
    store.requests.upsertFromConcur([record('A', { requestToken: 'another-token-0123456789' })], later);
    expect(store.requests.get('A')!.requestTokenExpiresAt).toBe(plus(later, 24 * 60 * MIN));
  });
});
