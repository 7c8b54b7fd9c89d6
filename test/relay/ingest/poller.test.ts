import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiVersion } from '../../../shared/status.js';
import { refreshTokenGrant, staticToken, type TokenProvider } from '../../../relay/concur/auth.js';
import { ConcurClient } from '../../../relay/concur/client.js';
import { ConcurError } from '../../../relay/concur/errors.js';
import type { Metrics } from '../../../relay/base/metrics.js';
import { VAULT_FENCED_MESSAGE } from '../../../relay/ingest/judge.js';
import { createPoller, type Poller, type PollerOptions } from '../../../relay/ingest/poller.js';
import { startSandbox, type RunningSandbox } from '../../../relay/sandbox/server.js';
import type { Store } from '../../../relay/store/index.js';
import { VaultFencedError } from '../../../relay/vault/vault.js';
import { record, StoreHarness, withParts } from '../store/helpers.js';
import {
  addRequests,
  authFor,
  calls,
  clearFaults,
  clientFor,
  control,
  fault,
  listCalls,
  putDirect,
  sandboxRequest,
  sandboxSecrets,
  listCallsOfSweep,
  sleep,
  startsList,
  VERSIONS,
  waitFor,
  workerWorld,
  type CapturedLog,
} from '../helpers.js';
import { metricValue } from '../../helpers/metrics.js';

let sb: RunningSandbox;
let harness: StoreHarness;
let store: Store;
let metrics: Metrics;
let log: CapturedLog;
// Most tests here are about walking one list (pages, groups, backoff, schedule): their poller
// sweeps the pending list alone, and the sandbox keeps requests Pending until their token is
// exchanged (its `processing: 'exchange'` quirk), so each 3.0 sweep lists each request once (3.2
// has one list anyway). What the seed's reading changes (Processing once Concur has handed a token
// out; the 3.0 sweep's second list) has its own tests, with the relay's default statuses
// (poller.processing.test.ts).
//
// They run against the sandbox in API 3.0 and 3.2 (VERSIONS says where the two differ); the few
// that are about 3.0's status filter, or that need no Concur at all, run once, at the end.

/** A sandbox of its own for the describe block this is called in, speaking `version`, and its poller maker. */
function world(version: ApiVersion): (overrides?: Partial<PollerOptions>) => Poller {
  const { poller } = workerWorld({ random: 41, quirks: { processing: 'exchange' }, version }, (w) => ({ sb, harness, store, metrics, log } = w));
  return (overrides = {}) => poller({ backoffBaseMs: 1000, backoffMaxMs: 60_000, statuses: ['Pending'], ...overrides });
}

/** What Concur's quirks look like to each version's client: each of them must ingest the same data. */
const QUIRKS: Record<ApiVersion, ReadonlyArray<readonly [Record<string, unknown>, 'xml' | 'json' | undefined]>> = {
  '3.0': [
    [{ bareRoot: true }, undefined],
    [{ statusCase: 'lower' }, undefined],
    [{ statusCase: 'upper' }, undefined],
    [{ version: '3.2' }, undefined],
    [{ version: '3.2', statusCase: 'lower' }, 'json'],
    [{}, 'json'],
  ],
  '3.2': [
    [{ statusCase: 'lower' }, undefined],
    [{ statusCase: 'upper' }, undefined],
    [{}, 'xml'],
    [{ bareRoot: true }, 'xml'],
    [{ statusCase: 'upper' }, 'xml'],
  ],
};

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const requestEvents = (after = 0) =>
  store.events.after(after, 10_000).filter((e) => e.type === 'request.created' || e.type === 'request.updated');

function expectNoSecrets(text: string): void {
  for (const secret of sandboxSecrets(sb)) expect(text).not.toContain(secret);
}

describe.each(VERSIONS)('poller, API $version', (v) => {
  const poller = world(v.version);

  describe('ingesting', () => {
    it('sweeps 23 requests over pages of 10, following NextPage, with one request.created each', async () => {
      const added = await addRequests(sb, { count: 23 });
      const p = poller();

      const first = await p.sweepNow();
      expect(first).toMatchObject({
        outcome: 'ok',
        created: 23,
        updated: 0,
        seen: 23,
        pages: 3,
        error: null,
        consecutiveFailures: 0,
        nextDelayMs: 60_000,
      });
      expect(store.requests.counts()).toEqual({ pending: 23, failed: 0, connected: 0 });
      const created = requestEvents().filter((e) => e.type === 'request.created');
      expect(created).toHaveLength(23);
      expect(new Set(created.map((e) => (e.data as { id: string }).id))).toEqual(new Set(added.map((r) => r.id)));
      expect(store.state.concurStatus()).toEqual({
        state: 'ok',
        lastPollAt: harness.clock.iso(),
        lastSuccessAt: harness.clock.iso(),
        lastError: null,
      });

      // Page after page to the end: 3.0 follows NextPage's opaque offsets, 3.2 reads its queue by position.
      const list = await listCalls(sb);
      expect(list).toHaveLength(listCallsOfSweep(v, 3));
      expect(list[0]!.query).toEqual(v.firstListQuery);
      expect(list[1]!.query.offset).toMatch(v.laterOffset);
      expect(list[2]!.query.offset).toMatch(v.laterOffset);
      expect(list[2]!.query.offset).not.toBe(list[1]!.query.offset);

      // A second sweep of the same data announces nothing.
      const latest = store.events.latestId();
      harness.clock.advance(60_000);
      const second = await p.sweepNow();
      expect(second).toMatchObject({ outcome: 'ok', created: 0, updated: 0, seen: 23, pages: 3 });
      expect(store.events.after(latest, 100)).toEqual([]);
      expect(store.state.concurStatus().lastSuccessAt).toBe(harness.clock.iso());
      expect(await metricValue(metrics, 'triplink_polls_total')).toBe(2);

      // Neither the events nor the log ever carry a request token.
      expectNoSecrets(JSON.stringify(store.events.after(0, 10_000)));
      expectNoSecrets(log.text());
    });

    it('writes pages together while Concur answers quickly: one transaction per group of records, not per page', async () => {
      await addRequests(sb, { count: 45 });
      const sizes: number[] = [];
      const counting = withParts(store, {
        requests: { upsertFromConcur: (records, seenAt) => (sizes.push(records.length), store.requests.upsertFromConcur(records, seenAt)) },
      });
      // No page waits long enough for a write on its own here: only the group size and the end of the list count.
      const p = poller({ store: counting, groupRecords: 20, groupWaitMs: 60_000 });
      expect(await p.sweepNow()).toMatchObject({ outcome: 'ok', created: 45, seen: 45, pages: 5 });
      expect(sizes).toEqual([20, 20, 5]);
      expect(store.requests.counts().pending).toBe(45);
      expect(requestEvents().filter((e) => e.type === 'request.created')).toHaveLength(45);
    });

    it('a slow Concur: each page is stored while the next one is still coming', async () => {
      await addRequests(sb, { count: 23 });
      await fault(sb, { route: 'list', kind: 'latency', latencyMs: 400 });
      const p = poller({ groupWaitMs: 20 });
      const sweep = p.sweepNow();
      await waitFor(() => store.requests.counts().pending > 0, 3000, 'the first page in the store');
      expect(store.requests.counts().pending).toBe(10);
      expect(p.sweeping).toBe(true);
      expect(await sweep).toMatchObject({ outcome: 'ok', created: 23, pages: 3 });
    });

    it('asks for the next page before it stores the current one', async () => {
      await addRequests(sb, { count: 23 });
      // Every call to Concur asks for its Authorization header as it goes out: that counts the pages asked for.
      const auth = authFor(sb, v.version);
      let asked = 0;
      const client = clientFor(sb, { version: v.version, auth: { ...auth, authorization: () => (asked++, auth.authorization()) } });
      const requestedBeforeStore: number[] = [];
      const watching = withParts(store, {
        requests: { upsertFromConcur: (records, seenAt) => (requestedBeforeStore.push(asked), store.requests.upsertFromConcur(records, seenAt)) },
      });
      // A write per page (groups of one page) to see the order.
      const p = poller({ client, store: watching, groupRecords: 10, groupWaitMs: 0 });
      expect(await p.sweepNow()).toMatchObject({ outcome: 'ok', created: 23, pages: 3 });
      // Each page is stored once the next `pagesAhead` have been asked for (3.0: page 1 once page 2
      // has, page 2 once page 3 has; 3.2 one further), the last once every call was made.
      expect(requestedBeforeStore).toEqual([1, 2, 3].map((page) => Math.min(page + v.pagesAhead, listCallsOfSweep(v, 3))));
    });

    it('logs one line per sweep with counts and ids', async () => {
      const added = await addRequests(sb, { count: 3 });
      const p = poller();
      await p.sweepNow();
      await p.sweepNow();
      const lines = log.lines();
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatchObject({ level: 30, msg: 'polled Concur', created: 3, updated: 0, pages: 1 });
      expect(lines[0]!.createdIds).toEqual(added.map((r) => r.id));
      expect(lines[1]).toMatchObject({ level: 20, msg: 'polled Concur: nothing new', created: 0, updated: 0 });
    });

    it('a change in Concur (CRRET: a new request token) is a request.updated; a new request a request.created', async () => {
      const [a, b] = await addRequests(sb, [{}, {}]);
      const p = poller();
      await p.sweepNow();
      const before = store.requests.get(a!.id)!;
      const latest = store.events.latestId();

      expect(await putDirect(sb, a!.id, 'CRRET', v.version)).toBe(204);
      const [c] = await addRequests(sb, {});
      // Back in the list with its new token: at once in 3.0, once 3.2's queue gives it back.
      await control(sb, 'POST', '/clock', { advanceSeconds: v.crretAwayMs / 1000 });
      harness.clock.advance(5 * 60_000);
      const result = await p.sweepNow();
      expect(result).toMatchObject({ outcome: 'ok', created: 1, updated: 1 });
      const events = store.events.after(latest, 100);
      expect(events.map((e) => [e.type, (e.data as { id: string }).id])).toEqual([
        ['request.updated', a!.id],
        ['request.created', c!.id],
      ]);
      const after = store.requests.get(a!.id)!;
      expect(after.group).toBe('pending');
      // The new token's lifetime starts when the relay first saw it.
      expect(Date.parse(after.requestTokenExpiresAt!)).toBe(harness.clock.ms + v.tokenLifetimeMs);
      expect(after.requestTokenExpiresAt).not.toBe(before.requestTokenExpiresAt);
      expect(store.requests.getRequestToken(a!.id)).toBe((await sandboxRequest(sb, a!.id)).requestToken);
      expect(store.requests.getRequestToken(a!.id)).not.toBe(a!.requestToken);
      expect(store.requests.getRequestToken(b!.id)).toBe(b!.requestToken);
      expect(log.lines().at(-1)).toMatchObject({ updatedIds: [a!.id], createdIds: [c!.id] });
      expectNoSecrets(log.text());
    });

    it('every quirk Concur has (bare roots, status case, v3.2, JSON) ingests the same data', async () => {
      const as32 = <T extends { id: string }>(r: T) => {
        const kept = sb.state.get(r.id)!;
        return { ...r, discountCode: null, userId: kept.userId, emailAddresses: [...kept.emailAddresses] };
      };
      await addRequests(sb, [
        { id: 'Q1', firstName: 'Ada', middleName: null, lastName: 'Lovelace', loyaltyNumber: '00123456', discountCode: null },
        { id: 'Q2', firstName: 'Émile', middleName: '', lastName: "O'Brien & <Sons>", loyaltyNumber: 'AB-1', discountCode: 'SUMMER' },
        { id: 'Q3', firstName: null, middleName: null, lastName: null, loyaltyNumber: null, message: 'note' },
        { id: 'Q4' },
        { id: 'Q5', lastModified: '2024-04-30T08:00:00Z' },
      ]);
      const snapshot = async (quirks: Record<string, unknown>, accept?: 'xml' | 'json') => {
        const h = new StoreHarness({ apiVersion: v.version });
        try {
          const s = h.store();
          await control(sb, 'PUT', '/quirks', { bareRoot: false, statusCase: 'as-is', version: null, ...quirks });
          const p = createPoller({
            client: clientFor(sb, { accept, version: v.version }),
            store: s,
            intervalMs: 60_000,
            logger: log.logger,
            metrics,
            now: h.clock.now,
          });
          const result = await p.sweepNow();
          expect(result, JSON.stringify(quirks)).toMatchObject({ outcome: 'ok', created: 5 });
          return { items: s.requests.list({ limit: 200 }).items, summary: s.state.summary().counts };
        } finally {
          h.cleanup();
        }
      };
      const baseline = await snapshot({});
      expect(baseline.items).toHaveLength(5);
      expect(baseline.summary).toEqual({ pending: 5, failed: 0, connected: 0 });
      const q1 = baseline.items.find((r) => r.id === 'Q1')!;
      expect(q1).toMatchObject({ middleName: null, discountCode: null, loyaltyNumber: '00123456', status: 'Pending' });
      expect(baseline.items.find((r) => r.id === 'Q2')).toMatchObject({ middleName: '', lastName: "O'Brien & <Sons>" });
      expect(baseline.items.find((r) => r.id === 'Q5')!.lastModified).toBe('2024-04-30T08:00:00.000Z');

      for (const [quirks, accept] of QUIRKS[v.version]) {
        // 3.2 has no discountCode any more, and adds the traveller's userId and e-mail addresses.
        const expected = 'version' in quirks ? { ...baseline, items: baseline.items.map((r) => as32(r)) } : baseline;
        expect(await snapshot(quirks, accept), JSON.stringify({ quirks, accept })).toEqual(expected);
      }
    });

    it('after a restart (same file, new poller) re-sweeping the same data announces nothing new', async () => {
      await addRequests(sb, { count: 12 });
      await poller().sweepNow();
      const latest = store.events.latestId();
      expect(requestEvents()).toHaveLength(12);

      store = harness.reopen();
      harness.clock.advance(3600_000);
      const again = await poller().sweepNow();
      expect(again).toMatchObject({ outcome: 'ok', created: 0, updated: 0, seen: 12 });
      expect(store.events.latestId()).toBe(latest);
      expect(store.requests.counts().pending).toBe(12);
    });
  });

  describe('when Concur fails', () => {
    beforeEach(async () => {
      await addRequests(sb, { count: 3 });
    });

    it('503: degraded with the reason and the next try; the backoff grows; a success resets it', async () => {
      await fault(sb, { route: 'list', kind: 'status503' });
      const p = poller({ backoffMaxMs: 2500 });
      const t0 = harness.clock.iso();

      const r1 = await p.sweepNow();
      expect(r1).toMatchObject({ outcome: 'failed', consecutiveFailures: 1, nextDelayMs: 750, created: 0 });
      expect(r1.error?.kind).toBe('unavailable');
      const status = store.state.concurStatus();
      expect(status.state).toBe('degraded');
      expect(status.lastPollAt).toBe(t0);
      expect(status.lastSuccessAt).toBeNull();
      expect(status.lastError).toBe(
        'Concur is unavailable (503): Service Unavailable. The service is down for maintenance; please try again later; ' +
          'next try at 2024-05-01T10:00:00.750Z (in 1 s)',
      );
      expect(r1.error?.message).toBe(status.lastError);
      expect(p.nextSweepAt).toBe(harness.clock.ms + 750);
      expect(p.consecutiveFailures).toBe(1);

      harness.clock.advance(1000);
      expect(await p.sweepNow()).toMatchObject({ outcome: 'failed', consecutiveFailures: 2, nextDelayMs: 1500 });
      expect(store.state.concurStatus().lastPollAt).toBe(harness.clock.iso());
      harness.clock.advance(2000);
      // Attempt 3 would be 3000 ms; maxMs 2500 caps the ceiling (equal jitter: 1875).
      expect(await p.sweepNow()).toMatchObject({ outcome: 'failed', consecutiveFailures: 3, nextDelayMs: 1875 });
      expect(await metricValue(metrics, 'triplink_poll_errors_total', { kind: 'unavailable' })).toBe(3);

      await clearFaults(sb);
      harness.clock.advance(2000);
      const ok = await p.sweepNow();
      expect(ok).toMatchObject({ outcome: 'ok', created: 3, consecutiveFailures: 0, nextDelayMs: 60_000 });
      expect(store.state.concurStatus()).toEqual({
        state: 'ok',
        lastPollAt: harness.clock.iso(),
        lastSuccessAt: harness.clock.iso(),
        lastError: null,
      });
      expect(p.consecutiveFailures).toBe(0);
      // unknown → degraded → ok, each announced once.
      const changes = store.events.after(0, 100).filter((e) => e.type === 'concur.state_changed');
      expect(changes.map((e) => (e.data as { state: string }).state)).toEqual(['degraded', 'ok']);
      expect(log.lines().map((l) => l.level)).toEqual([40, 40, 40, 30]);
    });

    it('429: Retry-After is honoured; a 503 with Retry-After too', async () => {
      await fault(sb, { route: 'list', kind: 'status429', retryAfterSeconds: 120, times: 1 });
      const p = poller();
      const r = await p.sweepNow();
      expect(r).toMatchObject({ outcome: 'failed', nextDelayMs: 120_000 });
      expect(r.error?.kind).toBe('rate_limited');
      expect(store.state.concurStatus().lastError).toMatch(/^Concur is rate limiting \(429\): Too Many Requests.*; next try at 2024-05-01T10:02:00\.000Z \(in 2 min\)$/);
      expect(p.nextSweepAt).toBe(harness.clock.ms + 120_000);

      await fault(sb, { route: 'list', kind: 'status503', retryAfterSeconds: 30, times: 1 });
      expect(await p.sweepNow()).toMatchObject({ outcome: 'failed', consecutiveFailures: 2, nextDelayMs: 30_000 });
      expect(await p.sweepNow()).toMatchObject({ outcome: 'ok' });
    });

    it('a running poller waits out the backoff on its timer, then recovers to ok', async () => {
      await fault(sb, { route: 'list', kind: 'status503', times: 2 });
      const p = poller({ intervalMs: 60_000, backoffBaseMs: 40, backoffMaxMs: 100, now: Date.now });
      const started = Date.now();
      p.start();
      await waitFor(() => store.state.concurStatus().state === 'ok', 2000, 'state ok');
      // Two failures: waits of 30 ms and 60 ms (equal jitter at 0.5) before the third sweep.
      expect(Date.now() - started).toBeGreaterThanOrEqual(85);
      // Three sweeps: two refused at their first page, the third read to its end.
      const list = await listCalls(sb);
      expect(list.filter(startsList).map((c) => c.status)).toEqual([503, 503, 200]);
      expect(list.filter((c) => !startsList(c)).every((c) => c.status === 200)).toBe(true);
      expect(p.consecutiveFailures).toBe(0);
      expect(p.nextSweepAt).toBeGreaterThan(Date.now() + 50_000);
    });

    describe('401/403', () => {
      let own: RunningSandbox;
      beforeEach(async () => {
        own = await startSandbox({ seed: 2, random: 9, ...v.sandbox });
      });
      afterEach(async () => {
        await own.close();
      });
      const tokenCalls = async () => (await calls(own)).filter((c) => c.route === 'token');

      it('an expired access token is refreshed once and the sweep goes on', async () => {
        const auth = refreshTokenGrant({
          tokenUrl: `${own.url}/oauth2/v0/token`,
          clientId: own.clientId,
          clientSecret: own.clientSecret,
          refreshToken: own.refreshToken,
        });
        const p = poller({ client: clientFor(own, { auth, version: v.version }) });
        expect(await p.sweepNow()).toMatchObject({ outcome: 'ok', created: 2 });
        expect(await tokenCalls()).toHaveLength(1);

        await control(own, 'POST', '/tokens/expire');
        expect(await p.sweepNow()).toMatchObject({ outcome: 'ok' });
        expect(await tokenCalls()).toHaveLength(2);
        expect((await calls(own)).filter((c) => c.route === 'list').map((c) => c.status)).toEqual([200, 403, 200]);
        expect(store.state.concurStatus().state).toBe('ok');
      });

      it('403 and a refused refresh: exactly one refresh attempt, then unauthorized (no secret in lastError)', async () => {
        let rotated = '';
        const auth = refreshTokenGrant({
          tokenUrl: `${own.url}/oauth2/v0/token`,
          clientId: own.clientId,
          clientSecret: own.clientSecret,
          refreshToken: own.refreshToken,
          onRefreshToken: (token) => {
            rotated = token;
          },
        });
        const p = poller({ client: clientFor(own, { auth, version: v.version }) });
        expect(await p.sweepNow()).toMatchObject({ outcome: 'ok' });
        // Expire the access token, and spend the relay's refresh token elsewhere (rotation makes it useless).
        await control(own, 'POST', '/tokens/expire');
        const spent = await fetch(`${own.url}/oauth2/v0/token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'refresh_token',
            client_id: own.clientId,
            client_secret: own.clientSecret,
            refresh_token: rotated,
          }).toString(),
        });
        const fresh = ((await spent.json()) as { refresh_token: string }).refresh_token;
        const before = (await tokenCalls()).length;

        const r = await p.sweepNow();
        expect(r).toMatchObject({ outcome: 'failed', nextDelayMs: 60_000 });
        expect(r.error?.kind).toBe('unauthorized');
        expect((await tokenCalls()).length - before).toBe(1);
        const status = store.state.concurStatus();
        expect(status.state).toBe('unauthorized');
        expect(status.lastError).toMatch(/^token refresh refused by Concur \(invalid_grant: bad or expired refresh token: code 108\)$/);
        for (const secret of [rotated, fresh, own.clientSecret, own.refreshToken]) {
          expect(status.lastError).not.toContain(secret);
          expect(log.text()).not.toContain(secret);
        }
        expect(await metricValue(metrics, 'triplink_poll_errors_total', { kind: 'unauthorized' })).toBe(1);
      });

      it('a token Concur does not know: one renewal asked for, then unauthorized; recovers once the token is good', async () => {
        let token = 'not-a-token-concur-knows';
        let renewals = 0;
        const auth: TokenProvider = {
          authorization: async () => `OAuth ${token}`,
          renew: async () => {
            renewals++;
            return false;
          },
        };
        const p = poller({ client: clientFor(own, { auth, version: v.version }) });
        const r = await p.sweepNow();
        expect(r.error?.kind).toBe('unauthorized');
        expect(renewals).toBe(1);
        expect(store.state.concurStatus()).toMatchObject({
          state: 'unauthorized',
          lastError: 'Concur refused the access token (403): Forbidden. Please check your Instance URL and OAuth token.',
          lastSuccessAt: null,
        });
        expect((await calls(own)).filter((c) => c.route === 'list')).toHaveLength(1);

        token = own.accessToken;
        expect(await p.sweepNow()).toMatchObject({ outcome: 'ok', created: 2 });
        expect(store.state.concurStatus()).toMatchObject({ state: 'ok', lastError: null });
        expectNoSecrets(log.text());
      });

      it('a static token Concur revoked is reported unauthorized (staticToken never renews)', async () => {
        await control(own, 'POST', '/tokens/expire', { includeStatic: true });
        const p = poller({ client: new ConcurClient({ baseUrl: own.url, auth: staticToken(own.accessToken), timeoutMs: 2000, version: v.version }) });
        expect((await p.sweepNow()).error?.kind).toBe('unauthorized');
        expect(store.state.concurStatus().state).toBe('unauthorized');
      });
    });

    it('a malformed answer: degraded with the reason; an Error with HTTP 200: degraded with Concur’s message', async () => {
      const p = poller();
      await fault(sb, { route: 'list', kind: 'malformed', times: 1 });
      const r = await p.sweepNow();
      expect(r.error?.kind).toBe('bad_response');
      expect(r.nextDelayMs).toBe(60_000);
      const status = store.state.concurStatus();
      expect(status.state).toBe('degraded');
      expect(status.lastError).toMatch(/^Concur's answer could not be read: \S.+/);
      expect(store.requests.counts().pending).toBe(0);

      await fault(sb, { route: 'list', kind: 'error200', times: 1 });
      const e = await p.sweepNow();
      expect(e.error?.kind).toBe('concur_error');
      expect(store.state.concurStatus()).toMatchObject({ state: 'degraded' });
      expect(store.state.concurStatus().lastError).toMatch(/An unexpected error occurred while processing the request\. Please retry later\./);

      expect(await p.sweepNow()).toMatchObject({ outcome: 'ok', created: 3 });
      expect(store.state.concurStatus()).toMatchObject({ state: 'ok', lastError: null });
    });

    it('a Concur that hangs: timeout → degraded with backoff; then ok', async () => {
      await fault(sb, { route: 'list', kind: 'hang', times: 1 });
      const p = poller({ client: clientFor(sb, { timeoutMs: 150, version: v.version }) });
      const r = await p.sweepNow();
      expect(r.error?.kind).toBe('timeout');
      expect(r.nextDelayMs).toBe(750);
      expect(store.state.concurStatus().state).toBe('degraded');
      expect(store.state.concurStatus().lastError).toMatch(
        new RegExp(`^Concur is not answering in time: GET ${escape(v.path)}/?: Concur did not answer within 0\\.15 s; next try at `),
      );
      expect(await p.sweepNow()).toMatchObject({ outcome: 'ok', created: 3 });
    });

    it('a Concur that cannot be reached at all: degraded (unavailable), with backoff', async () => {
      const gone = await startSandbox({ seed: false });
      const url = gone.url;
      await gone.close();
      // With a token in hand (no geolocation to go by), so it is the list that finds nobody there.
      const p = poller({ client: clientFor(sb, { baseUrl: url, timeoutMs: 1000, version: v.version, auth: staticToken(sb.accessToken) }) });
      const r = await p.sweepNow();
      expect(r.error?.kind).toBe('unavailable');
      expect(r.nextDelayMs).toBe(750);
      expect(store.state.concurStatus().lastError).toMatch(
        new RegExp(`^Concur is unavailable: GET ${escape(v.path)}/?: could not reach Concur \\(ECONNREFUSED\\); next try at`),
      );
    });

    it('an unexpected error is caught: degraded with a generic reason, details only in the log', async () => {
      let broken = true;
      const flaky = withParts(store, {
        requests: {
          upsertFromConcur: (records, seenAt) => {
            if (broken) throw new Error('SQLITE_IOERR: disk I/O error at /var/lib/relay/secret.sqlite');
            return store.requests.upsertFromConcur(records, seenAt);
          },
        },
      });
      const p = poller({ store: flaky });
      const r = await p.sweepNow();
      expect(r.error).toEqual({
        kind: 'internal',
        message: "The relay could not complete a poll of Concur because of an internal error; see the relay's log.",
      });
      expect(r.nextDelayMs).toBe(60_000);
      const status = store.state.concurStatus();
      expect(status.state).toBe('degraded');
      expect(status.lastError).not.toMatch(/SQLITE|secret|\/var/);
      const line = log.lines().at(-1)!;
      expect(line.level).toBe(50);
      expect(JSON.stringify(line.err)).toContain('SQLITE_IOERR');
      expect(await metricValue(metrics, 'triplink_polls_total')).toBe(1);

      broken = false;
      expect(await p.sweepNow()).toMatchObject({ outcome: 'ok', created: 3 });
    });

    it('a request token its vault may not seal (a rotation it was left out of): degraded, saying what to do', async () => {
      const fenced = withParts(store, {
        requests: {
          upsertFromConcur: () => {
            throw new VaultFencedError('the vault was rotated to key 9c04e1b7, which this relay was not given');
          },
        },
      });
      const r = await poller({ store: fenced }).sweepNow();
      expect(r.error).toEqual({ kind: 'internal', message: VAULT_FENCED_MESSAGE });
      expect(VAULT_FENCED_MESSAGE).toMatch(/^The relay's vault key was rotated out, .*restart it with the new RELAY_VAULT_KEY/);
      expect(store.state.concurStatus()).toMatchObject({ state: 'degraded', lastError: VAULT_FENCED_MESSAGE });
      expect(await store.requests.counts()).toEqual({ pending: 0, failed: 0, connected: 0 });
    });

    it('survives a store that cannot even record the failure', async () => {
      const dead = withParts(store, {
        requests: {
          upsertFromConcur: () => {
            throw new Error('database is closed');
          },
        },
        state: {
          updateConcurStatus: () => {
            throw new Error('database is closed');
          },
        },
      });
      const p = poller({ store: dead });
      const r = await p.sweepNow();
      expect(r.outcome).toBe('failed');
      expect(log.lines().filter((l) => l.level === 50)).toHaveLength(2);
    });
  });

  describe('scheduling', () => {
    it('sweeps never overlap', async () => {
      await addRequests(sb, { count: 15 });
      await fault(sb, { route: 'list', kind: 'latency', latencyMs: 20 });
      const client = clientFor(sb, { version: v.version });
      let active = 0;
      let most = 0;
      const counting: Pick<ConcurClient, 'pages'> = {
        async *pages(options) {
          active++;
          most = Math.max(most, active);
          try {
            yield* client.pages(options);
          } finally {
            active--;
          }
        },
      };
      const p = poller({ client: counting });
      p.start();
      const results = await Promise.all([p.sweepNow(), p.sweepNow(), p.sweepNow()]);
      expect(results.map((r) => r.outcome)).toEqual(['ok', 'ok', 'ok']);
      expect(most).toBe(1);
      await p.stop();
      // Three sweeps of two pages: the sweeps asked for replace start()'s first one, which had not begun.
      expect(await listCalls(sb)).toHaveLength(3 * listCallsOfSweep(v, 2));
    });

    it('requestResweep during a sweep: another sweep from the first page as soon as it ends, then the interval', async () => {
      await addRequests(sb, { count: 23 });
      await fault(sb, { route: 'list', kind: 'latency', latencyMs: 30 });
      const p = poller({ now: Date.now });
      p.start();
      await waitFor(() => p.sweeping, 1000, 'the first sweep');
      p.requestResweep();
      p.requestResweep();
      const sweep = [true, ...Array<boolean>(listCallsOfSweep(v, 3) - 1).fill(false)];
      await waitFor(async () => (await listCalls(sb)).filter((c) => c.status !== null).length >= 2 * sweep.length, 2000, 'two sweeps');
      await waitFor(() => !p.sweeping, 1000, 'the end of the second sweep');
      await sleep(60);
      const list = await listCalls(sb);
      expect(list.map(startsList)).toEqual([...sweep, ...sweep]);
      expect(p.nextSweepAt).toBeGreaterThan(Date.now() + 50_000);
    });

    it('requestResweep when idle sweeps at once; while backing off it keeps the schedule; before start() it does nothing', async () => {
      await addRequests(sb, { count: 2 });
      const p = poller({ now: Date.now });
      p.requestResweep();
      await sleep(30);
      expect(await listCalls(sb)).toHaveLength(0);

      p.start();
      await waitFor(() => store.state.concurStatus().state === 'ok', 1000, 'the first sweep');
      await waitFor(() => !p.sweeping, 1000, 'its end');
      p.requestResweep();
      await waitFor(async () => (await listCalls(sb)).length === 2, 1000, 'the resweep');

      await fault(sb, { route: 'list', kind: 'status503' });
      p.requestResweep();
      await waitFor(() => p.consecutiveFailures === 1 && !p.sweeping, 1000, 'a failure');
      const at = (await listCalls(sb)).length;
      p.requestResweep();
      await sleep(50);
      expect(await listCalls(sb)).toHaveLength(at);
    });

    it('stop() ends the sweep in progress after its current page, waits for it, and leaves no timer behind', async () => {
      await addRequests(sb, { count: 23 });
      await fault(sb, { route: 'list', kind: 'latency', latencyMs: 80 });
      const p = poller();
      p.start();
      await waitFor(() => p.sweeping, 1000, 'the sweep');
      await p.stop();
      expect(p.sweeping).toBe(false);
      expect(p.nextSweepAt).toBeNull();
      // The page read was kept; the summary was not claimed ok for a sweep that did not finish.
      expect(store.requests.counts().pending).toBe(10);
      expect(store.state.concurStatus().state).toBe('unknown');
      // The requests already under way for the next pages may still land; they are not stored, and nothing follows them.
      await sleep(120);
      const list = await listCalls(sb);
      expect(list.length).toBeGreaterThanOrEqual(1);
      expect(list.length).toBeLessThanOrEqual(1 + v.pagesAhead);
      expect(list[0]!.status).toBe(200);
      expect(store.requests.counts().pending).toBe(10);
      await sleep(120);
      expect(await listCalls(sb)).toHaveLength(list.length);

      // A stopped poller can be swept by hand and started again.
      await clearFaults(sb);
      expect(await p.sweepNow()).toMatchObject({ outcome: 'ok', created: 13 });
    });

    it('start() twice runs one schedule', async () => {
      await addRequests(sb, { count: 1 });
      const p = poller();
      p.start();
      p.start();
      await waitFor(() => store.state.concurStatus().state === 'ok', 1000, 'the first sweep');
      await sleep(50);
      expect(await listCalls(sb)).toHaveLength(1);
    });

  });
});

describe('poller, API 3.0: the status filter, and what needs no Concur', () => {
  const poller = world('3.0');

  it('a sweep that fails half-way keeps every page it read, also those not yet written', async () => {
    const page = (from: number, nextPage: string | null) => ({
      items: Array.from({ length: 10 }, (_, i) => record(`R${String(from + i).padStart(3, '0')}`)),
      nextPage,
    });
    const failing: Pick<ConcurClient, 'pages'> = {
      async *pages() {
        yield page(0, 'n1');
        yield page(10, 'n2');
        throw new ConcurError('unavailable', 'Concur is unavailable (503)', { status: 503 });
      },
    };
    const p = poller({ client: failing, groupWaitMs: 60_000 });
    expect(await p.sweepNow()).toMatchObject({ outcome: 'failed', created: 20, pages: 2 });
    expect(store.requests.counts().pending).toBe(20);
    expect(store.state.concurStatus().state).toBe('degraded');
  });

  it('sweeps each status asked for; the summary counts every group right', async () => {
    await addRequests(sb, [
      { id: 'P1' },
      { id: 'P2' },
      { id: 'P3', status: 'Processing' },
      { id: 'C1', status: 'Connected' },
      { id: 'C2', status: 'Connected' },
      { id: 'F1', status: 'Failed' },
    ]);
    const p = poller({ statuses: ['Pending', 'Processing', 'Connected', 'Failed'], pageLimit: 2 });
    expect(await p.sweepNow()).toMatchObject({ outcome: 'ok', created: 6, pages: 4 });
    expect(store.state.summary()).toEqual({
      counts: { pending: 3, failed: 1, connected: 2 },
      concur: { state: 'ok', lastPollAt: harness.clock.iso(), lastSuccessAt: harness.clock.iso(), lastError: null },
      exchange: { state: 'ok', reason: null },
      autoConnect: { policy: 'off', directory: false },
    });
    // This file's poller asks for the pending list only (the relay's own default: poller.processing.test.ts).
    const only = poller();
    const h2 = await only.sweepNow();
    expect(h2).toMatchObject({ outcome: 'ok', seen: 2, created: 0 });
  });

  it('refuses options that cannot work', () => {
    const base = { client: clientFor(sb), store, logger: log.logger, metrics };
    expect(() => createPoller({ ...base, intervalMs: 0 })).toThrow(RangeError);
    expect(() => createPoller({ ...base, intervalMs: 1000, pageLimit: 0 })).toThrow(RangeError);
    expect(() => createPoller({ ...base, intervalMs: 1000, statuses: [] })).toThrow(RangeError);
  });
});
