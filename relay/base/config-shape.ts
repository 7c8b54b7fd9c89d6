import type { LevelWithSilent } from 'pino';
import { z } from 'zod';
import { AUTO_REPLY_POLICIES } from '../../shared/match.js';

/**
 * The relay's configuration as the rest of the relay sees it, with its defaults. config.ts reads
 * it from the environment; nothing else builds one (tests go through parseConfig too).
 */

export const DEFAULT_DB_PATH = './data/relay.sqlite';
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8787;
export const DEFAULT_TIMEOUT_SECONDS = 30;
export const MAX_TIMEOUT_SECONDS = 600;
export const DEFAULT_POLL_INTERVAL_SECONDS = 60;
export const MAX_POLL_INTERVAL_SECONDS = 86_400;
/** The outbox's longest wait between two tries of one reply (its backoff doubles up to it). */
export const DEFAULT_REPLY_RETRY_MAX_SECONDS = 300;
export const MAX_REPLY_RETRY_MAX_SECONDS = 3_600;
export const MIN_API_KEY_LENGTH = 16;
/** Browser-extension origins only: any Chrome (and Chromium) or Firefox extension. */
export const DEFAULT_CORS_ORIGINS: readonly string[] = ['chrome-extension://*', 'moz-extension://*'];
/** Appended to CONCUR_BASE_URL when CONCUR_TOKEN_URL is unset (Concur's OAuth 2.0 token endpoint). */
export const DEFAULT_TOKEN_PATH = '/oauth2/v0/token';
/** Sandbox mode: a new pending request this often, so that something happens in a demo (0: never). */
export const DEFAULT_SANDBOX_DEMO_EVERY_SECONDS = 30;
export const MAX_SANDBOX_DEMO_EVERY_SECONDS = 86_400;
/** One call to the member directory (auto-connect). */
export const DEFAULT_MATCH_TIMEOUT_SECONDS = 5;
export const MAX_MATCH_TIMEOUT_SECONDS = 60;

// ---------------------------------------------------------------------------------------------
// The parsed configuration (the shape the rest of the relay uses)
// ---------------------------------------------------------------------------------------------

export const ConcurAuthScheme = z.enum(['OAuth', 'Bearer']);
export type ConcurAuthScheme = z.infer<typeof ConcurAuthScheme>;

/** CONCUR_API_VERSION: 3.0 is the seed's; 3.2 is what Concur serves partners connecting today. */
export const ConcurApiVersion = z.enum(['3.0', '3.2']);
export type ConcurApiVersion = z.infer<typeof ConcurApiVersion>;
export const DEFAULT_API_VERSION: ConcurApiVersion = '3.0';

/** pino's levels; `satisfies` keeps the list from naming a level pino does not have. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const LogLevel = z.enum(LOG_LEVELS satisfies readonly LevelWithSilent[]);
export type LogLevel = z.infer<typeof LogLevel>;

export const ConcurCredential = z.discriminatedUnion('kind', [
  /** CONCUR_ACCESS_TOKEN: used as is until Concur rejects it. */
  z.object({ kind: z.literal('accessToken'), accessToken: z.string().min(1) }),
  /** The OAuth 2.0 refresh-token grant. */
  z.object({
    kind: z.literal('refreshToken'),
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    refreshToken: z.string().min(1),
    tokenUrl: z.url({ protocol: /^https?$/ }),
    /**
     * CONCUR_ACCESS_TOKEN given beside the grant: used first (with CONCUR_AUTH_SCHEME), until
     * Concur refuses it; from then on the grant's tokens.
     */
    accessToken: z.string().min(1).optional(),
  }),
  /** API 3.2: the client-credentials grant (CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET alone); calls go to the token's geolocation. */
  z.object({
    kind: z.literal('clientCredentials'),
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    tokenUrl: z.url({ protocol: /^https?$/ }),
  }),
]);
export type ConcurCredential = z.infer<typeof ConcurCredential>;

/** How a request token becomes the traveller's tokens (CONCUR_EXCHANGE). */
export const ExchangeForm = z.enum(['legacy', 'password']);
export type ExchangeForm = z.infer<typeof ExchangeForm>;
/** What CONCUR_EXCHANGE defaults to: 3.0 exchanges with getaccesstoken.ashx, 3.2 with the password grant (DESIGN). */
export const DEFAULT_EXCHANGE_FORM: Readonly<Record<ConcurApiVersion, ExchangeForm>> = { '3.0': 'legacy', '3.2': 'password' };

/**
 * The exchange of request tokens (what CRSUC stands for). `credentials` are the partner app's
 * (CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET): null when they are not configured, and then CRSUC
 * is refused; sandbox mode uses the sandbox's own.
 */
const ExchangeSettings = z.object({
  form: ExchangeForm,
  /**
   * The password grant's token endpoint: CONCUR_EXCHANGE_URL, else CONCUR_TOKEN_URL, else
   * `{CONCUR_BASE_URL}/oauth2/v0/token`; null in sandbox mode unless set (the sandbox's own).
   */
  tokenUrl: z.url({ protocol: /^https?$/ }).nullable(),
  credentials: z.object({ clientId: z.string().min(1), clientSecret: z.string().min(1) }).nullable(),
});
export type ExchangeSettings = z.infer<typeof ExchangeSettings>;

/**
 * RELAY_AUTO_REPLY: what the relay answers Concur by itself after the member directory's answer.
 * off: nothing (the answer is only shown); connect: CRSUC for members; all: CREU1–3 too.
 */
export const AutoReply = z.enum(AUTO_REPLY_POLICIES);
export type AutoReply = z.infer<typeof AutoReply>;

/** RELAY_DB: an SQLite file, or a PostgreSQL database (`shown`: its URL without the password, for logs). */
export const DatabaseLocationSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('sqlite'), path: z.string().min(1) }),
  z.object({ kind: z.literal('postgres'), url: z.string().min(1), shown: z.string().min(1) }),
]);

const MatchCommon = {
  autoReply: AutoReply,
  /** One directory call, in seconds (may be fractional). */
  timeoutSeconds: z.number().positive().max(MAX_MATCH_TIMEOUT_SECONDS),
};
/** RELAY_MATCH_URL with its RELAY_MATCH_SECRET. */
const DirectoryAtUrl = z.object({
  directory: z.literal('url'),
  url: z.url({ protocol: /^https?$/ }),
  secret: z.string().startsWith('whsec_'),
  ...MatchCommon,
});
/** The partner's member directory; `sandbox`: the embedded sandbox's demo directory, with a secret made at start. */
export const MatchSettings = z.discriminatedUnion('directory', [
  DirectoryAtUrl,
  z.object({ directory: z.literal('sandbox'), ...MatchCommon }),
]);
export type MatchSettings = z.infer<typeof MatchSettings>;

const ConcurSettings = z.object({
  apiVersion: ConcurApiVersion,
  /** CONCUR_AUTH_SCHEME: a static token's scheme; default `OAuth` under 3.0, `Bearer` under 3.2 (which takes no other). */
  authScheme: ConcurAuthScheme,
  /** Timeout of one Concur call, in seconds (may be fractional). */
  timeoutSeconds: z.number().positive().max(MAX_TIMEOUT_SECONDS),
  /** Time between polls, in whole seconds. */
  pollIntervalSeconds: z.number().int().min(1).max(MAX_POLL_INTERVAL_SECONDS),
  /** The longest wait between two tries of a reply, in whole seconds. */
  replyRetryMaxSeconds: z.number().int().min(1).max(MAX_REPLY_RETRY_MAX_SECONDS),
});

const CommonSettings = {
  host: z.string().min(1),
  /** 0 lets the system pick a free port (tests). */
  port: z.number().int().min(0).max(65535),
  /** Accepted API keys, trimmed, de-duplicated, in the order given. */
  apiKeys: z.array(z.string().min(MIN_API_KEY_LENGTH)),
  /** True only in sandbox mode with RELAY_API_KEYS unset: the starter must generate (and print) a key. */
  generateApiKey: z.boolean(),
  database: DatabaseLocationSchema,
  /** Allowed browser origin patterns; match with `isOriginAllowed`. */
  corsOrigins: z.array(z.string().min(1)).min(1),
  webhookAllowPrivate: z.boolean(),
  logLevel: LogLevel,
  /** RELAY_VAULT_KEY (base64 or hex); null only in sandbox mode, which makes one and keeps it beside the database. */
  vaultKey: z.string().nullable(),
  /** RELAY_VAULT_OLD_KEYS: earlier keys, read-only, during a key rotation. */
  vaultOldKeys: z.array(z.string()),
  exchange: ExchangeSettings,
};

export const RelayConfigSchema = z.discriminatedUnion('mode', [
  /** CONCUR_BASE_URL unset: the relay runs against the embedded sandbox, which the starter provides. */
  z.object({
    mode: z.literal('sandbox'),
    concur: ConcurSettings.extend({ baseUrl: z.null(), credential: z.null() }),
    ...CommonSettings,
    /** Seconds between the sandbox's demo requests, 0 for none. */
    sandboxDemoEverySeconds: z.number().int().min(0).max(MAX_SANDBOX_DEMO_EVERY_SECONDS),
    /**
     * The environment always gives sandbox mode its demo directory; null (no directory) is for a
     * relay built in code, by tests of things other than auto-connect.
     */
    match: MatchSettings.nullable(),
  }),
  z.object({
    mode: z.literal('concur'),
    concur: ConcurSettings.extend({
      /** No trailing slash, no query; paths are appended to it. */
      baseUrl: z.url({ protocol: /^https?$/ }),
      credential: ConcurCredential,
    }),
    ...CommonSettings,
    apiKeys: CommonSettings.apiKeys.min(1),
    generateApiKey: z.literal(false),
    vaultKey: z.string(),
    sandboxDemoEverySeconds: z.null(),
    /** null: no member directory, nothing is answered by itself. */
    match: DirectoryAtUrl.nullable(),
  }),
]);
export type RelayConfig = z.infer<typeof RelayConfigSchema>;
