import type { Connection } from '../../shared/connections.js';
import type { Logger } from '../base/log.js';
import { ExchangeError, type ExchangeClient } from '../concur/exchange.js';
import type { UserTokens } from '../concur/user-tokens.js';
import type { Connections, OpenedTokens } from '../store/index.js';
import { backoffDelay } from '../workers/backoff.js';
import { createWorkerLoop, delayUntil, iso, type PassSignal } from '../workers/loop.js';
import { positive, whole } from '../workers/options.js';
import { nextRefreshAt } from './schedule.js';
import { Slots } from './slots.js';

/**
 * The refresh worker: keeps every active connection's tokens alive (schedule.ts says when), and
 * refreshes one at once when the broker's route needs a fresher token. What Concur answers:
 *
 * - new tokens → stored (`connections.refreshed`): the refresh token as Concur rotated it and the
 *   geolocation as Concur moved it, the next refresh drawn afresh;
 * - a final refusal (`token_refused`: invalid grant, code 108; the grant was revoked at Concur or
 *   its refresh token expired) → `refresh_failed` (event `connection.updated`, webhook
 *   `connection.broken`): only the traveller connecting again can mend it;
 * - anything else → the state stays `active`, the error is kept on the connection and the next try
 *   backs off (workers/backoff.ts; never sooner than a Retry-After).
 *
 * At most `concurrency` refreshes are at Concur at once, the broker's included (slots.ts), and one
 * connection is never refreshed twice at once: Concur rotates the refresh token on every use, so a
 * second refresh with the same token would be refused and break a healthy connection. Within the
 * relay the flights below see to that; across relays on one database, the store's claim. Logs carry
 * connection ids and Concur's words, never a token.
 */

export type RefreshOutcome =
  | { kind: 'refreshed'; connection: Connection }
  /** Concur refused for good: the connection is refresh_failed now. */
  | { kind: 'broken'; connection: Connection }
  /** Not this time (Concur unavailable, the partner's credentials refused…): still active, tried again later. */
  | { kind: 'deferred'; connection: Connection; reason: string; retryAfterSeconds: number | undefined }
  /** Another relay on the database is refreshing it right now (its claim lasts until `until` at most). */
  | { kind: 'busy'; until: string }
  /** The worker's: no longer due when its turn came (another relay refreshed it meanwhile). */
  | { kind: 'not_due' }
  /** Nothing to refresh: unknown, not active any more, or its tokens erased. */
  | { kind: 'gone' }
  /** Not tried, or not recorded: the store failed (logged), or the worker is stopping. */
  | { kind: 'failed'; reason: string };

export type RefresherLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface RefresherOptions {
  exchange: Pick<ExchangeClient, 'refresh'>;
  store: { connections: Pick<Connections, 'claimRefresh' | 'refreshed' | 'refreshFailed' | 'dueForRefresh' | 'nextRefreshAt'> };
  logger: RefresherLogger;
  /** Epoch ms; default Date.now. Decides what is due, and what the new tokens' times mean. */
  now?: () => number;
  /** [0, 1); default Math.random. Spreads refreshes (schedule.ts) and retries. */
  random?: () => number;
  /** Refreshes at Concur at once, the broker's included. Default 4. */
  concurrency?: number;
  /** Due connections read from the store per pass. Default 20. */
  batchSize?: number;
  /**
   * How long a refresh this relay claims (`connections.claimRefresh`) stays its own: longer than a
   * call to Concur and the write of its outcome. Default 2 min.
   */
  leaseMs?: number;
  /** The backoff ceiling after a connection's first failed refresh. Default 1 min. */
  baseDelayMs?: number;
  /** The backoff never grows beyond this (a Retry-After may still ask for more). Default 1 h. */
  maxDelayMs?: number;
}

export interface Refresher {
  /** Refreshes what is due now (also what a stopped relay left overdue), then keeps going. */
  start(): void;
  /** Something became due: look now rather than at the next wake-up. */
  kick(): void;
  /** No new refreshes; waits for those at Concur and records their outcome. */
  stop(): Promise<void>;
  /** Passes until nothing is due at `now()` (and nothing in flight). Works without start(). */
  drain(): Promise<void>;
  /**
   * Refreshes one connection now, ahead of the worker's queue, or joins the refresh of it already
   * under way (works without start()).
   */
  refresh(id: string): Promise<RefreshOutcome>;
  /** Resolves once no refresh of `id` is in flight. */
  settled(id: string): Promise<void>;
  /** Refreshes at Concur right now. */
  readonly inFlight: number;
  /** When the worker will next look on its own (epoch ms, on `now`); null when not started or while a pass runs. */
  readonly nextWakeAt: number | null;
}

const DEFAULT_CONCURRENCY = 4;
const DEFAULT_BATCH_SIZE = 20;
const DEFAULT_BASE_DELAY_MS = 60_000;
const DEFAULT_MAX_DELAY_MS = 60 * 60_000;
const DEFAULT_LEASE_MS = 2 * 60_000;
/** Refreshes are never urgent to the second; a due one whose refresh is running waits this long. */
const MIN_SLEEP_MS = 1_000;

export function createRefresher(options: RefresherOptions): Refresher {
  const { exchange, store, logger } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const slots = new Slots(whole('concurrency', options.concurrency ?? DEFAULT_CONCURRENCY));
  const batchSize = whole('batchSize', options.batchSize ?? DEFAULT_BATCH_SIZE);
  const baseDelayMs = positive('baseDelayMs', options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS);
  const maxDelayMs = positive('maxDelayMs', options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS);
  const leaseMs = positive('leaseMs', options.leaseMs ?? DEFAULT_LEASE_MS);

  /** The refresh of each connection under way (waiting for a slot, or at Concur). */
  const flights = new Map<string, Promise<RefreshOutcome>>();
  /** Failed refreshes in a row, by connection, for the backoff (forgotten on a restart: it starts gently again). */
  const failures = new Map<string, number>();
  /**
   * Between stop() and start() no refresh begins, the broker's neither: one that began after the
   * store closed would lose the refresh token Concur rotated, and break the connection.
   */
  let stopping = false;

  const loop = createWorkerLoop({
    name: 'the refresh worker',
    logger,
    now,
    pass,
    nextDelayMs: async () => delayUntil(await store.connections.nextRefreshAt(), now()),
    minSleepMs: MIN_SLEEP_MS,
    backoffMs: (n) => backoffDelay({ attempt: n, baseMs: baseDelayMs, maxMs: maxDelayMs, random }),
    inFlight: () => flights.values(),
  });

  function refresh(id: string, urgent: boolean): Promise<RefreshOutcome> {
    const running = flights.get(id);
    if (running !== undefined) return running;
    if (stopping) return Promise.resolve({ kind: 'failed', reason: 'the relay is shutting down' });
    const flight = (async () => {
      const release = await slots.acquire(urgent);
      try {
        return await attempt(id, urgent);
      } finally {
        release();
        flights.delete(id);
      }
    })();
    flights.set(id, flight);
    return flight;
  }

  async function attempt(id: string, urgent: boolean): Promise<RefreshOutcome> {
    let held: OpenedTokens;
    try {
      // Claimed, not just read: another relay on the database may be at Concur with the same refresh token.
      const claim = await store.connections.claimRefresh(id, now(), leaseMs, !urgent);
      if (claim.kind !== 'claimed') return claim;
      held = claim.tokens;
    } catch (error) {
      return storeFailure(error, id, 'could not claim the refresh of a connection');
    }
    let tokens: UserTokens;
    try {
      tokens = await exchange.refresh(held);
    } catch (error) {
      if (error instanceof ExchangeError) return await refused(id, error);
      // The exchange client turns every failure into an ExchangeError; anything else is a bug, waited out like a failing Concur.
      logger.error({ err: error, connectionId: id }, 'the refresh of a connection failed unexpectedly');
      return await refused(id, new ExchangeError('bad_response', 'refresh: the relay failed unexpectedly (see its log)'));
    }
    let connection: Connection;
    try {
      connection = await store.connections.refreshed(id, tokens, nextRefreshAt(tokens, now(), random));
    } catch (error) {
      // Concur may have rotated the refresh token already: the stored one is then spent, and the
      // next try will say so (code 108 → refresh_failed). Nothing better can be done without the store.
      return storeFailure(error, id, 'could not store the refreshed tokens of a connection');
    }
    failures.delete(id);
    // Revoked while Concur answered: the store kept the revocation, and the new tokens went nowhere.
    if (connection.state !== 'active') return { kind: 'gone' };
    logger.debug({ connectionId: id, accessTokenExpiresAt: connection.accessTokenExpiresAt }, 'refreshed the tokens of a connection');
    return { kind: 'refreshed', connection };
  }

  async function refused(id: string, error: ExchangeError): Promise<RefreshOutcome> {
    try {
      return await judge({ store, logger, now, random, baseDelayMs, maxDelayMs, failures }, id, error);
    } catch (storeError) {
      return storeFailure(storeError, id, 'could not record how the refresh of a connection went');
    }
  }

  function storeFailure(error: unknown, id: string, what: string): RefreshOutcome {
    loop.storeFailed();
    logger.error({ err: error, connectionId: id }, `the refresh worker ${what}; it will try again`);
    return { kind: 'failed', reason: 'the relay could not use its database just now' };
  }

  /** Refreshes what is due, batch after batch, until nothing is (or the store fails, or the worker stops). */
  async function pass(signal: PassSignal): Promise<void> {
    for (;;) {
      if (signal.stopping) return;
      let due: string[];
      try {
        due = await store.connections.dueForRefresh(now(), batchSize);
      } catch (error) {
        loop.storeFailed();
        logger.error({ err: error }, 'the refresh worker could not read which connections are due; it will try again');
        return;
      }
      const todo = due.filter((id) => !flights.has(id));
      if (todo.length === 0) return;
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < todo.length && !signal.stopping) await refresh(todo[next++]!, false);
      };
      await Promise.all(Array.from({ length: Math.min(slots.size, todo.length) }, worker));
      // A refresh whose outcome the store could not record would be due again at once: back off instead.
      if (loop.backingOff) return;
    }
  }

  return {
    start() {
      stopping = false;
      loop.start();
    },
    kick: loop.kick,
    async stop() {
      stopping = true;
      await loop.stop();
    },
    drain: loop.drain,
    refresh: (id) => refresh(id, true),
    async settled(id) {
      await flights.get(id);
    },
    get inFlight() {
      return slots.busy;
    },
    get nextWakeAt() {
      return loop.nextWakeAt;
    },
  };
}

/** What judge() needs of the refresher. */
interface Judging {
  store: RefresherOptions['store'];
  logger: RefresherLogger;
  now: () => number;
  random: () => number;
  baseDelayMs: number;
  maxDelayMs: number;
  failures: Map<string, number>;
}

/** Records what a refused refresh means for the connection (rejects when the store fails). */
async function judge({ store, logger, now, random, baseDelayMs, maxDelayMs, failures }: Judging, id: string, error: ExchangeError): Promise<RefreshOutcome> {
  if (error.kind === 'token_refused') {
    failures.delete(id);
    const connection = await store.connections.refreshFailed(id, error.message, { final: true });
    logger.warn(
      { connectionId: id, concurCode: error.details.concurCode ?? null, reason: error.message },
      'Concur refused to refresh a connection for good; it is refresh_failed now',
    );
    return connection.state === 'refresh_failed' ? { kind: 'broken', connection } : { kind: 'gone' };
  }
  // `unavailable` and `bad_response` may pass. So may `credentials_refused`: the partner's client id
  // or secret was refused, which says nothing about the traveller's grant; breaking every
  // connection for an operator's mistake would make every traveller connect again, so they wait,
  // backing off, until the credentials are mended.
  const n = (failures.get(id) ?? 0) + 1;
  failures.set(id, n);
  const retryAfterSeconds = error.details.retryAfterSeconds;
  const nextTryAt = now() + backoffDelay({ attempt: n, baseMs: baseDelayMs, maxMs: maxDelayMs, retryAfterSeconds, random });
  const connection = await store.connections.refreshFailed(id, error.message, { final: false, nextRefreshAt: nextTryAt });
  logger.warn(
    { connectionId: id, kind: error.kind, reason: error.message, failures: n, nextTryAt: iso(nextTryAt) },
    error.kind === 'credentials_refused'
      ? "Concur refused the partner's client credentials while refreshing a connection; it stays active and is tried again later"
      : 'a connection could not be refreshed this time; it stays active and is tried again later',
  );
  if (connection.state !== 'active') return { kind: 'gone' };
  return { kind: 'deferred', connection, reason: error.message, retryAfterSeconds };
}
