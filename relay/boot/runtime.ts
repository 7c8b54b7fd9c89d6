import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { createApp } from '../api/app.js';
import { listen, type HttpTimeouts } from '../api/server.js';
import { ConcurClient } from '../concur/client.js';
import { ExchangeClient } from '../concur/exchange.js';
import type { RelayConfig } from '../base/config-shape.js';
import type { Logger } from '../base/log.js';
import { type ConcurCallObservation, Metrics } from '../base/metrics.js';
import type { ExchangeSetup } from '../replies/exchange-step.js';
import { createOutbox } from '../replies/outbox.js';
import { createPoller, type Poller } from '../ingest/poller.js';
import type { Leadership } from '../workers/leader.js';
import type { Clock } from '../sandbox/clock.js';
import { startSandbox, type RunningSandbox } from '../sandbox/server.js';
import type { Store, StoreParts } from '../store/index.js';
import { DEFAULT_DB_PATH } from '../base/config-shape.js';
import { openPostgres, openSqlite, type OpenedDatabase } from './database.js';
import { parseVaultKey, Vault } from '../vault/vault.js';
import { sandboxApiKey, sandboxVaultKey } from './sandbox-files.js';
import { watchVaultFromStart } from './vault-watch.js';
import { watchSummary } from '../ingest/summary.js';
import { createWebhookWorker } from '../push/webhooks/delivery.js';
import { wireConnections } from './connections.js';
import { concurAuth } from './concur-auth.js';
import { autoConnectOf, createMatcher, sandboxDirectorySecret } from './matching.js';
import { REQUEST_TOKEN_LIFETIME_MS, REQUEST_TOKEN_TTL_MS } from '../../shared/status.js';

/**
 * Wires the relay together from its configuration: store, Concur client, poller, outbox, webhooks,
 * the connections' refresh worker, API.
 * main.ts runs it as a process; tests run it in-process with a temp database.
 */

export interface RunningRelay<S extends StoreParts = Store> {
  url: string;
  /** The API keys in force (one generated in sandbox mode when none was configured). */
  apiKeys: readonly string[];
  /** Set when the key was generated here, so that the starter can print it once. */
  generatedApiKey: string | null;
  sandbox: RunningSandbox | null;
  store: S;
  /** Stop polling, let replies in flight finish, close connections and the database. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  /** Sandbox mode: the demo trickle of new requests, instead of config.sandboxDemoEverySeconds (0 = off). */
  sandboxDemoEveryMs?: number;
  sandboxPort?: number;
  /**
   * Sandbox mode: the sandbox's PRNG seed and clock, so that the same seed gives the same
   * travellers, ids and times (the e2e screenshots); a random seed and the system clock otherwise.
   */
  sandboxRandom?: number;
  sandboxClock?: Clock;
  /** First retry delay of a reply PUT (tests shorten it). */
  outboxBaseDelayMs?: number;
  /** The waits before asking the member directory again after a call without a verdict (tests shorten them). */
  matchRetryDelaysMs?: readonly number[];
  /** The API server's timeouts (./api/server.ts); the defaults suit production. */
  httpTimeouts?: Partial<HttpTimeouts>;
  /** How often the relay reads which key the vault is under (vault-watch.ts; tests shorten it). */
  vaultWatchMs?: number;
}

const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** What the summary says while the relay has no partner credentials (it names variables, never values). */
export const NO_EXCHANGE_CREDENTIALS =
  "CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET are not set: the relay needs the partner app's credentials to exchange request tokens for the travellers' tokens, which CRSUC stands for";

/**
 * The exchange of request tokens: with the partner's credentials (sandbox mode: the sandbox's
 * own), or null without them. The password grant's endpoint defaults to the sandbox's own.
 */
function exchangeOf(
  config: RelayConfig,
  baseUrl: string,
  sandbox: RunningSandbox | null,
  observe: (call: ConcurCallObservation) => void,
): ExchangeSetup | null {
  const credentials = sandbox === null ? config.exchange.credentials : { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret };
  if (credentials === null) return null;
  const client = new ExchangeClient({
    form: config.exchange.form,
    baseUrl,
    tokenUrl: config.exchange.tokenUrl ?? `${baseUrl}/oauth2/v0/token`,
    ...credentials,
    timeoutMs: config.concur.timeoutSeconds * 1000,
    observe: (outcome, seconds) => observe({ operation: 'token', outcome, seconds }),
  });
  return { client, form: config.exchange.form };
}
/**
 * Only the leader polls (the other workers run on every relay: their claims keep them apart); the
 * poller starts and stops with the leadership. Answers the function that stops following it.
 */
function pollWhileLeading(leadership: Leadership, poller: Poller, metrics: Metrics, logger: Logger): () => void {
  const follow = (leader: boolean): void => {
    metrics.setPollerLeader(leader);
    if (leader) poller.start();
    else void poller.stop();
  };
  const stop = leadership.onChange((leader) => {
    logger.info({ poller: leader }, leader ? 'this relay polls Concur now' : 'another relay polls Concur now');
    follow(leader);
  });
  follow(leadership.isLeader());
  return stop;
}

/**
 * Only the leader announces the summary: every relay reads the same one from the store, and each
 * would append it (several relays: each change announced once per relay). A relay that takes the
 * leadership over starts, like a relay that starts, from the last summary announced in the log: a
 * change its predecessor made and died before announcing is announced then, and one it announced
 * is not announced again. Resolves once the watcher of a relay that leads now has started.
 */
async function summaryWhileLeading(leadership: Leadership, store: Parameters<typeof watchSummary>[0], logger: Logger): Promise<() => void> {
  let watching: Promise<(() => void) | undefined> = Promise.resolve(undefined);
  const follow = (leader: boolean): Promise<unknown> => {
    watching = watching.then(async (stop) => {
      stop?.();
      if (!leader) return undefined;
      const onError = (err: unknown) => logger.error({ err }, 'the summary watcher failed');
      return watchSummary(store, { onError }).catch((err: unknown) => (logger.error({ err }, 'the summary watcher could not start'), undefined));
    });
    return watching;
  };
  const unfollow = leadership.onChange((leader) => void follow(leader));
  await follow(leadership.isLeader());
  return () => {
    unfollow();
    void follow(false);
  };
}

const IDEMPOTENCY_KEYS_KEPT_MS = 24 * 60 * 60 * 1000;
const DELIVERIES_KEPT_MS = 30 * 24 * 60 * 60 * 1000;

function vaultOf(config: RelayConfig): Vault {
  // PostgreSQL needs RELAY_VAULT_KEY (config.ts): every relay on the database must seal alike.
  const beside = config.database.kind === 'sqlite' ? config.database.path : DEFAULT_DB_PATH;
  return new Vault({
    current: parseVaultKey(config.vaultKey ?? sandboxVaultKey(beside))!,
    old: config.vaultOldKeys.map((key) => parseVaultKey(key)!),
  });
}

/** The relay on the SQLite file RELAY_DB names (the in-process tests read its store directly). */
export async function startRelay(config: RelayConfig, options: StartOptions): Promise<RunningRelay<Store>> {
  const vault = vaultOf(config);
  return wire(config, options, vault, openSqlite(config, vault));
}

/** The relay on the database RELAY_DB names, SQLite or PostgreSQL (the service). */
export async function startConfiguredRelay(config: RelayConfig, options: StartOptions): Promise<RunningRelay<StoreParts>> {
  if (config.database.kind === 'sqlite') return startRelay(config, options);
  const vault = vaultOf(config);
  return wire(config, options, vault, await openPostgres(config, vault, options.logger));
}

async function wire<S extends StoreParts>(config: RelayConfig, options: StartOptions, vault: Vault, opened: OpenedDatabase<S>): Promise<RunningRelay<S>> {
  const { logger } = options;
  const { store, leadership } = opened;
  for (const { column, count } of store.sealedAtOpen.sealed) {
    logger.info({ column, count }, 'sealed the secrets an older relay kept in clear');
  }
  const vaultWatch = await watchVaultFromStart({ sealing: store.sealing, vault, logger, intervalMs: options.vaultWatchMs });
  const metrics = new Metrics({ processMetrics: true });
  const observe = (call: ConcurCallObservation) => metrics.observeConcurCall(call);
  let sandbox: RunningSandbox | null = null;
  const directorySecret = sandboxDirectorySecret(config);
  try {
    let baseUrl: string;
    if (config.mode === 'sandbox') {
      const demoEveryMs = options.sandboxDemoEveryMs ?? config.sandboxDemoEverySeconds * 1000;
      sandbox = await startSandbox({
        port: options.sandboxPort ?? 0,
        random: options.sandboxRandom,
        clock: options.sandboxClock,
        demo: demoEveryMs > 0 ? { everyMs: demoEveryMs } : undefined,
        quirks: {
          // The password grant's username is the request's userId, which Concur gives from API 3.2 on.
          ...(config.exchange.form === 'password' ? { version: '3.2' as const } : {}),
          // The lifetime the relay assumes for the version: the popup's countdown then matches what this sandbox refuses.
          requestTokenLifetime: REQUEST_TOKEN_LIFETIME_MS[config.concur.apiVersion] === REQUEST_TOKEN_TTL_MS ? '15m' : '24h',
        },
        ids: config.concur.apiVersion === '3.2' ? 'guid' : 'legacy',
        directory: directorySecret === null ? undefined : { secret: directorySecret },
      });
      baseUrl = sandbox.url;
    } else {
      baseUrl = config.concur.baseUrl;
    }
    const auth = await concurAuth(config, store, sandbox, observe);

    const generatedApiKey = config.generateApiKey ? sandboxApiKey(opened.sandboxFilesBeside) : null;
    const apiKeys = generatedApiKey ? [generatedApiKey] : config.apiKeys;
    const client = new ConcurClient({ baseUrl, auth, version: config.concur.apiVersion, timeoutMs: config.concur.timeoutSeconds * 1000, observe });
    const poller = createPoller({ client, store, intervalMs: config.concur.pollIntervalSeconds * 1000, logger, metrics });
    const exchange = exchangeOf(config, baseUrl, sandbox, observe);
    // Said at every start, from the configuration: a refusal of credentials no longer configured is forgotten.
    await store.state.setExchangeStatus(exchange === null ? { state: 'unavailable', reason: NO_EXCHANGE_CREDENTIALS } : { state: 'ok', reason: null });
    const outbox = createOutbox({
      client,
      exchange,
      store,
      logger,
      metrics,
      baseDelayMs: options.outboxBaseDelayMs,
      maxDelayMs: config.concur.replyRetryMaxSeconds * 1000,
      onSent: () => poller.requestResweep(),
    });
    const matchDeps = { store, logger, metrics, retryDelaysMs: options.matchRetryDelaysMs, onReplied: () => outbox.kick() };
    const matcher = createMatcher(config, { running: sandbox, secret: directorySecret }, matchDeps);
    // Said at every start too, before the summary watcher reads its first summary: the summary
    // event that a change appends is the only one that announces it.
    await store.state.setAutoConnect(autoConnectOf(config, matcher));
    const stopSummary = await summaryWhileLeading(leadership, store, logger);
    // A CRSUC waiting for a new request token goes on as soon as a poll brings one.
    const stopWaking = store.events.subscribe((event) => {
      if (event.type === 'request.updated' && event.data.reply?.state === 'waiting_token') outbox.kick();
    });
    const webhooks = createWebhookWorker({ store, logger, metrics, allowPrivate: config.webhookAllowPrivate });
    const connections = wireConnections({ config, sandbox, baseUrl, auth, store, logger, metrics });
    // Aborted on close: live event streams end cleanly instead of being cut.
    const shutdown = new AbortController();
    // RELAY_API_KEYS (or sandbox mode's key) as admin keys, in step with the store's records.
    const envKeys = await store.keys.syncEnvKeys(apiKeys);
    for (const name of envKeys.stillRevoked) {
      logger.warn({ key: name }, `${name} of RELAY_API_KEYS was revoked; it stays refused until it is taken out of RELAY_API_KEYS`);
    }
    const app = createApp({
      store,
      vault,
      poller: { isPolling: () => leadership.isLeader() },
      corsOrigins: config.corsOrigins,
      outbox,
      metrics,
      logger,
      events: { signal: shutdown.signal },
      webhooks: { allowPrivate: config.webhookAllowPrivate, kick: () => webhooks.kick() },
      connections: connections.broker,
    });

    const server = await listen(app.fetch, { hostname: config.host, port: config.port, timeouts: options.httpTimeouts });
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;

    matcher?.start();
    const stopFollowing = pollWhileLeading(leadership, poller, metrics, logger);
    outbox.start();
    webhooks.start();
    connections.start();
    const pruneOld = async (): Promise<void> => {
      try {
        await store.events.prune();
        await store.idempotency.prune(Date.now() - IDEMPOTENCY_KEYS_KEPT_MS);
        await store.deliveries.prune(Date.now() - DELIVERIES_KEPT_MS);
      } catch (err) {
        // Kept another hour: the store's health check has noticed a storage failure.
        logger.error({ err }, 'could not prune old events, idempotency keys and deliveries; trying again in an hour');
      }
    };
    const prune = setInterval(() => void pruneOld(), PRUNE_EVERY_MS);
    prune.unref();
    logger.info({ url, mode: config.mode, pollIntervalSeconds: config.concur.pollIntervalSeconds }, 'relay listening');

    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= (async () => {
        clearInterval(prune);
        vaultWatch.stop();
        shutdown.abort();
        stopFollowing();
        await poller.stop();
        // Handed over at once: a follower's next try takes the lock.
        await leadership.stop();
        // Before the outbox: an answer still coming in may queue a reply.
        await matcher?.stop();
        await outbox.stop();
        await webhooks.stop();
        await connections.stop();
        stopSummary();
        stopWaking();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Live event streams never end by themselves.
          server.closeAllConnections();
        });
        await store.close();
        await sandbox?.close();
        logger.info('relay stopped');
      })());

    return { url, apiKeys, generatedApiKey, sandbox, store, close };
  } catch (err) {
    vaultWatch.stop();
    await leadership.stop();
    await sandbox?.close();
    await store.close();
    throw err;
  }
}

