import type { RelayConfig } from '../base/config-shape.js';
import type { Logger } from '../base/log.js';
import type { Metrics } from '../base/metrics.js';
import type { TokenProvider } from '../concur/auth.js';
import { ExchangeClient } from '../concur/exchange.js';
import { createBroker, type ConnectionBroker } from '../connections/broker.js';
import { createRefresher, type Refresher } from '../connections/refresher.js';
import type { RunningSandbox } from '../sandbox/server.js';
import type { StoreParts } from '../store/index.js';

/**
 * The connections' side of the wiring: the refresh worker and the broker the API hands token
 * reads and revocations to. Both need the partner app's client id and secret (Concur's refresh
 * grant and legacy refresh take them); without them the worker does not run, which the start-up
 * log says once, and the broker hands out tokens only while they are fresh.
 */

export interface PartnerCredentials {
  clientId: string;
  clientSecret: string;
  /** The OAuth 2.0 token endpoint (the password grant's; refreshes go to each token's geolocation). */
  tokenUrl: string;
}

/**
 * The partner's credentials, the same the exchange of request tokens uses (CONCUR_CLIENT_ID and
 * CONCUR_CLIENT_SECRET, beside any credential of the relay's own): the sandbox's own in sandbox
 * mode; null when there are none.
 */
export function partnerCredentials(config: RelayConfig, sandbox: RunningSandbox | null, baseUrl: string): PartnerCredentials | null {
  if (sandbox !== null) return { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, tokenUrl: `${sandbox.url}/oauth2/v0/token` };
  const credentials = config.exchange.credentials;
  if (credentials === null) return null;
  return { ...credentials, tokenUrl: config.exchange.tokenUrl ?? `${baseUrl}/oauth2/v0/token` };
}

export interface ConnectionsWiring {
  /** null without partner credentials. */
  refresher: Refresher | null;
  broker: ConnectionBroker;
  /** Starts the refresh worker (when there is one); a new connection wakes it. */
  start(): void;
  /** Stops it; refreshes at Concur finish and are recorded. */
  stop(): Promise<void>;
}

export function wireConnections(deps: {
  config: RelayConfig;
  sandbox: RunningSandbox | null;
  baseUrl: string;
  /** The relay's own Concur token: the legacy revocation is made with it. */
  auth: TokenProvider;
  store: StoreParts;
  logger: Logger;
  metrics: Metrics;
}): ConnectionsWiring {
  const { config, store, logger, metrics } = deps;
  const credentials = partnerCredentials(config, deps.sandbox, deps.baseUrl);
  if (credentials === null) {
    logger.warn(
      "connections are not refreshed: the relay has no partner credentials (CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET); a token is handed out only while it has 5 minutes left, and revoking a connection erases its tokens without telling Concur",
    );
    return { refresher: null, broker: createBroker({ store, refresher: null, concur: null, logger }), start: () => undefined, stop: async () => undefined };
  }
  const exchange = new ExchangeClient({
    // The form only decides how a request token is exchanged; refreshes and revocations follow each connection's own form.
    form: 'password',
    baseUrl: deps.baseUrl,
    tokenUrl: credentials.tokenUrl,
    clientId: credentials.clientId,
    clientSecret: credentials.clientSecret,
    timeoutMs: config.concur.timeoutSeconds * 1000,
    observe: (outcome, seconds) => metrics.observeConcurCall({ operation: 'token', outcome, seconds }),
    appAuthorization: () => deps.auth.authorization(),
  });
  // A claimed refresh outlasts the call to Concur (its timeout) and the write of what it said.
  const refresher = createRefresher({ exchange, store, logger, leaseMs: config.concur.timeoutSeconds * 1000 + 60_000 });
  let unsubscribe: (() => void) | undefined;
  return {
    refresher,
    broker: createBroker({ store, refresher, concur: exchange, logger }),
    start() {
      // A new connection may be due before the worker's next look (it looks at least every 30 s anyway).
      unsubscribe ??= store.events.subscribe((event) => {
        if (event.type === 'connection.created') refresher.kick();
      });
      refresher.start();
    },
    async stop() {
      unsubscribe?.();
      unsubscribe = undefined;
      await refresher.stop();
    },
  };
}
