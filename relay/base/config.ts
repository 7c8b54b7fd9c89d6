import { z } from 'zod';
import { authSchemeOf, checkVersionRules, credentialOf, missingCredentialMessage, wantsClientCredentials } from './config-credential.js';
import {
  envBoolean,
  envChoice,
  envEnum,
  envHost,
  envList,
  envNumber,
  envSecret,
  envVaultKey,
  envUrl,
  vaultKeyItem,
  problemLines,
  type Fix,
} from './env-fields.js';
import { envDatabase } from './env-database.js';
import { checkMatch, MATCH_VARIABLES, matchSettings } from './config-match.js';
import { API_KEY_EXAMPLE, apiKey, corsOrigin } from './env-lists.js';
import {
  DEFAULT_DB_PATH,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_TIMEOUT_SECONDS,
  MAX_TIMEOUT_SECONDS,
  DEFAULT_POLL_INTERVAL_SECONDS,
  MAX_POLL_INTERVAL_SECONDS,
  DEFAULT_REPLY_RETRY_MAX_SECONDS,
  MAX_REPLY_RETRY_MAX_SECONDS,
  DEFAULT_CORS_ORIGINS,
  DEFAULT_TOKEN_PATH,
  DEFAULT_SANDBOX_DEMO_EVERY_SECONDS,
  MAX_SANDBOX_DEMO_EVERY_SECONDS,
  DEFAULT_EXCHANGE_FORM,
  ConcurApiVersion,
  ConcurAuthScheme,
  DEFAULT_API_VERSION,
  ExchangeForm,
  type ExchangeSettings,
  LogLevel,
  RelayConfigSchema,
  type RelayConfig,
} from './config-shape.js';

/**
 * The relay's configuration, read from the environment (the README lists every variable). The
 * relay reads no variable anywhere else: one zod schema (RelayEnvSchema, below) checks each
 * variable (with the builders of env-fields.ts), then the rules between variables, and turns the
 * result into a RelayConfig.
 *
 * Rules that hold for every variable:
 * - A variable that is unset, empty or only whitespace counts as unset (so `FOO=` in an env file
 *   means "use the default"). Values are trimmed.
 * - Every mistake gives one line: the variable, what is wrong, an example of a good value.
 *   All mistakes are reported at once, never only the first, in the order of the variables.
 * - Secret values (tokens, client id and secret, API keys) are never echoed in a problem line.
 */

export type ParseConfigResult = { ok: true; config: RelayConfig } | { ok: false; problems: string[] };

// ---------------------------------------------------------------------------------------------
// The environment: one schema reads, checks and converts every variable
// ---------------------------------------------------------------------------------------------

type Env = Record<string, string | undefined>;

const SECRET_EXAMPLE = {
  CONCUR_ACCESS_TOKEN: '<the access token from Concur>',
  CONCUR_CLIENT_ID: '<your app client id>',
  CONCUR_CLIENT_SECRET: '<your app client secret>',
  CONCUR_REFRESH_TOKEN: '<the refresh token from Concur>',
} as const;

const BASE_URL_EXAMPLE = 'https://www.concursolutions.com';
const REFRESH_VARS = ['CONCUR_CLIENT_ID', 'CONCUR_CLIENT_SECRET', 'CONCUR_REFRESH_TOKEN'] as const;
/** The partner app's credentials: what every exchange of a request token needs. */
const EXCHANGE_VARS = ['CONCUR_CLIENT_ID', 'CONCUR_CLIENT_SECRET'] as const;

/**
 * Every variable the relay reads, in the order problems are listed (the README's table has it too).
 * A new variable is a line here, its field in RelayConfigSchema, and its place in toRelayConfig.
 */
const EnvVariables = z.object({
  CONCUR_BASE_URL: envUrl(BASE_URL_EXAMPLE),
  CONCUR_API_VERSION: envEnum(ConcurApiVersion.options, DEFAULT_API_VERSION),
  // These two default by CONCUR_API_VERSION (config-credential.ts, DEFAULT_EXCHANGE_FORM).
  CONCUR_AUTH_SCHEME: envChoice(ConcurAuthScheme.options, 'OAuth'),
  CONCUR_ACCESS_TOKEN: envSecret(SECRET_EXAMPLE.CONCUR_ACCESS_TOKEN),
  CONCUR_CLIENT_ID: envSecret(SECRET_EXAMPLE.CONCUR_CLIENT_ID),
  CONCUR_CLIENT_SECRET: envSecret(SECRET_EXAMPLE.CONCUR_CLIENT_SECRET),
  CONCUR_REFRESH_TOKEN: envSecret(SECRET_EXAMPLE.CONCUR_REFRESH_TOKEN),
  CONCUR_TOKEN_URL: envUrl('https://us.api.concursolutions.com/oauth2/v0/token', { allowQuery: true }),
  CONCUR_EXCHANGE: envChoice(ExchangeForm.options, 'legacy'),
  CONCUR_EXCHANGE_URL: envUrl('https://us.api.concursolutions.com/oauth2/v0/token', { allowQuery: true }),
  CONCUR_TIMEOUT_SECONDS: envNumber({
    fallback: DEFAULT_TIMEOUT_SECONDS,
    min: 0,
    minExclusive: true,
    max: MAX_TIMEOUT_SECONDS,
    tooLow: 'a number of seconds greater than 0',
    tooHigh: `a number of seconds, at most ${MAX_TIMEOUT_SECONDS}`,
  }),
  POLL_INTERVAL_SECONDS: envNumber({
    fallback: DEFAULT_POLL_INTERVAL_SECONDS,
    whole: true,
    min: 1,
    max: MAX_POLL_INTERVAL_SECONDS,
    tooLow: 'a whole number of seconds, at least 1',
    tooHigh: `a whole number of seconds, at most ${MAX_POLL_INTERVAL_SECONDS} (one day)`,
  }),
  REPLY_RETRY_MAX_SECONDS: envNumber({
    fallback: DEFAULT_REPLY_RETRY_MAX_SECONDS,
    whole: true,
    min: 1,
    max: MAX_REPLY_RETRY_MAX_SECONDS,
    tooLow: 'a whole number of seconds, at least 1',
    tooHigh: `a whole number of seconds, at most ${MAX_REPLY_RETRY_MAX_SECONDS} (one hour)`,
  }),
  RELAY_HOST: envHost(DEFAULT_HOST, '127.0.0.1 (or 0.0.0.0 for every interface)'),
  RELAY_PORT: envNumber({
    fallback: DEFAULT_PORT,
    whole: true,
    min: 0,
    max: 65535,
    tooLow: 'a whole number from 0 to 65535 (0: any free port)',
  }),
  RELAY_API_KEYS: envList(apiKey),
  RELAY_DB: envDatabase(DEFAULT_DB_PATH),
  RELAY_CORS_ORIGINS: envList(corsOrigin),
  RELAY_WEBHOOK_ALLOW_PRIVATE: envBoolean(false),
  ...MATCH_VARIABLES,
  RELAY_VAULT_KEY: envVaultKey(),
  RELAY_VAULT_OLD_KEYS: envList(vaultKeyItem),
  LOG_LEVEL: envEnum(LogLevel.options, 'info'),
  // Read (and checked) in either mode; only sandbox mode has a demo to pace.
  SANDBOX_DEMO_EVERY_SECONDS: envNumber({
    fallback: DEFAULT_SANDBOX_DEMO_EVERY_SECONDS,
    whole: true,
    min: 0,
    max: MAX_SANDBOX_DEMO_EVERY_SECONDS,
    tooLow: 'a whole number of seconds, 0 or more (0: no demo requests)',
    tooHigh: `a whole number of seconds, at most ${MAX_SANDBOX_DEMO_EVERY_SECONDS} (one day)`,
  }),
});
type EnvValues = z.output<typeof EnvVariables>;
type EnvVariable = keyof EnvValues;
/** The variables without a default: only for these does "set" differ from "has a value". */
type OptionalVariable = { [K in EnvVariable]: undefined extends EnvValues[K] ? K : never }[EnvVariable];

/**
 * The rules between variables. They run even when single variables were rejected (all problems
 * at once), so they only ask which variables are set: a rejected value still counts as set, and
 * is here whatever its field made of it before it failed.
 */
function checkCombinations(env: EnvValues, ctx: z.core.$RefinementCtx<EnvValues>): void {
  const isSet = (name: OptionalVariable) => env[name] !== undefined;
  const problem = (name: EnvVariable, message: string, fix: Fix) =>
    ctx.addIssue({ code: 'custom', path: [name], message, params: fix });

  checkMatch(env, !isSet('CONCUR_BASE_URL'), problem);

  const refreshSet = REFRESH_VARS.filter(isSet);
  // Beside a static token, client credentials (and a token URL) serve the exchange of request
  // tokens; only CONCUR_REFRESH_TOKEN asks for the refresh-token grant. Without one, they are the
  // relay's own credential, so the grant needs all three.
  const staticToken = isSet('CONCUR_ACCESS_TOKEN');
  // Under 3.2, client id and secret alone are the client-credentials grant (config-credential.ts).
  const clientCredentials = wantsClientCredentials(env, isSet);
  const wantsRefresh =
    isSet('CONCUR_REFRESH_TOKEN') || (!staticToken && !clientCredentials && (refreshSet.length > 0 || isSet('CONCUR_TOKEN_URL')));
  const given = [...refreshSet, ...(isSet('CONCUR_TOKEN_URL') ? ['CONCUR_TOKEN_URL'] : [])];
  if (wantsRefresh) {
    for (const name of REFRESH_VARS) {
      if (isSet(name)) continue;
      problem(
        name,
        `not set, but ${given.join(' and ')} ${given.length === 1 ? 'is' : 'are'}; the refresh-token grant needs CONCUR_CLIENT_ID, CONCUR_CLIENT_SECRET and CONCUR_REFRESH_TOKEN`,
        { example: SECRET_EXAMPLE[name] },
      );
    }
  } else if (isSet('CONCUR_BASE_URL')) {
    // (Sandbox mode uses the sandbox's own credentials.)
    const forExchange = [...given, ...(isSet('CONCUR_EXCHANGE_URL') ? ['CONCUR_EXCHANGE_URL'] : [])];
    for (const name of forExchange.length === 0 ? [] : EXCHANGE_VARS) {
      if (isSet(name)) continue;
      problem(
        name,
        `not set, but ${forExchange.join(' and ')} ${forExchange.length === 1 ? 'is' : 'are'}; the exchange of request tokens needs CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET`,
        { example: SECRET_EXAMPLE[name] },
      );
    }
  }

  if (!isSet('CONCUR_BASE_URL') && env.RELAY_DB?.kind === 'postgres' && !isSet('RELAY_VAULT_KEY')) {
    // Sandbox mode keeps a key of its own beside an SQLite file; relays sharing a database must share the key.
    problem('RELAY_VAULT_KEY', 'not set; it is required when RELAY_DB is a PostgreSQL URL: every relay on the database seals with the same key', {
      advice: 'make one with `openssl rand -base64 32` and give every relay the same',
      example: '<the output of openssl rand -base64 32>',
    });
  }
  if (!isSet('CONCUR_BASE_URL')) {
    // Credentials without a Concur instance would silently start the sandbox instead.
    const credentials = (['CONCUR_ACCESS_TOKEN', ...REFRESH_VARS] as const).filter(isSet);
    if (credentials.length > 0) {
      problem('CONCUR_BASE_URL', `not set, but Concur credentials are (${credentials.join(', ')})`, {
        advice: `set the Concur instance URL, e.g. CONCUR_BASE_URL=${BASE_URL_EXAMPLE}, or unset the credentials to run against the built-in sandbox`,
      });
    }
    return;
  }
  checkVersionRules(env, problem);
  if (!staticToken && !wantsRefresh && !clientCredentials) {
    problem('CONCUR_ACCESS_TOKEN', missingCredentialMessage(env.CONCUR_API_VERSION), { example: SECRET_EXAMPLE.CONCUR_ACCESS_TOKEN });
  }
  if (!isSet('RELAY_API_KEYS')) {
    problem('RELAY_API_KEYS', 'not set; it is required when CONCUR_BASE_URL is set (only sandbox mode generates a key)', {
      example: API_KEY_EXAMPLE,
    });
  }
  if (!isSet('RELAY_VAULT_KEY')) {
    problem('RELAY_VAULT_KEY', 'not set; it is required when CONCUR_BASE_URL is set: every token and secret the relay keeps is sealed with it (only sandbox mode makes one)', {
      advice: 'make one with `openssl rand -base64 32` and keep it safe: without it the stored tokens cannot be read',
      example: '<the output of openssl rand -base64 32>',
    });
  }
}

/** The exchange of request tokens; without CONCUR_BASE_URL the sandbox's token endpoint and credentials stand in. */
function exchangeOf(env: EnvValues, baseUrl: string | undefined): ExchangeSettings {
  const { CONCUR_CLIENT_ID: clientId, CONCUR_CLIENT_SECRET: clientSecret } = env;
  const tokenUrl = env.CONCUR_EXCHANGE_URL ?? env.CONCUR_TOKEN_URL ?? (baseUrl === undefined ? null : `${baseUrl}${DEFAULT_TOKEN_PATH}`);
  return {
    form: env.CONCUR_EXCHANGE ?? DEFAULT_EXCHANGE_FORM[env.CONCUR_API_VERSION],
    tokenUrl,
    credentials: baseUrl !== undefined && clientId !== undefined && clientSecret !== undefined ? { clientId, clientSecret } : null,
  };
}

function toRelayConfig(env: EnvValues, ctx: z.core.$RefinementCtx<EnvValues>): RelayConfig {
  const concur = {
    apiVersion: env.CONCUR_API_VERSION,
    authScheme: authSchemeOf(env),
    timeoutSeconds: env.CONCUR_TIMEOUT_SECONDS,
    pollIntervalSeconds: env.POLL_INTERVAL_SECONDS,
    replyRetryMaxSeconds: env.REPLY_RETRY_MAX_SECONDS,
  };
  const common = {
    host: env.RELAY_HOST,
    port: env.RELAY_PORT,
    apiKeys: env.RELAY_API_KEYS ?? [],
    database: env.RELAY_DB,
    corsOrigins: env.RELAY_CORS_ORIGINS ?? [...DEFAULT_CORS_ORIGINS],
    webhookAllowPrivate: env.RELAY_WEBHOOK_ALLOW_PRIVATE,
    logLevel: env.LOG_LEVEL,
    vaultKey: env.RELAY_VAULT_KEY ?? null,
    vaultOldKeys: env.RELAY_VAULT_OLD_KEYS ?? [],
    exchange: exchangeOf(env, env.CONCUR_BASE_URL),
  };
  const baseUrl = env.CONCUR_BASE_URL;
  if (baseUrl === undefined) {
    return {
      mode: 'sandbox',
      concur: { ...concur, baseUrl: null, credential: null },
      ...common,
      generateApiKey: common.apiKeys.length === 0,
      sandboxDemoEverySeconds: env.SANDBOX_DEMO_EVERY_SECONDS,
      match: matchSettings(env, true),
    };
  }
  const credential = credentialOf(env, baseUrl);
  if (credential === undefined) {
    // Unreachable: checkCombinations reports every way to get here without a credential.
    ctx.addIssue({ code: 'custom', path: ['CONCUR_ACCESS_TOKEN'], message: 'no usable Concur credential' });
    return z.NEVER;
  }
  if (common.vaultKey === null) {
    // Unreachable: checkCombinations reports a missing RELAY_VAULT_KEY outside sandbox mode.
    ctx.addIssue({ code: 'custom', path: ['RELAY_VAULT_KEY'], message: 'not set' });
    return z.NEVER;
  }
  return {
    mode: 'concur',
    concur: { ...concur, baseUrl, credential },
    ...common,
    vaultKey: common.vaultKey,
    generateApiKey: false,
    sandboxDemoEverySeconds: null,
    match: matchSettings(env, false),
  };
}

/**
 * The environment (normally `process.env`) to the relay's configuration.
 *
 * Decisions beyond the README's table of variables:
 * - CONCUR_TOKEN_URL defaults to `${CONCUR_BASE_URL}/oauth2/v0/token` (Concur's OAuth 2.0 token
 *   endpoint lives on the same geolocation host as the APIs); the refresh-token grant needs
 *   CONCUR_CLIENT_ID, CONCUR_CLIENT_SECRET and CONCUR_REFRESH_TOKEN.
 * - CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET may stand beside CONCUR_ACCESS_TOKEN: the token
 *   authenticates the relay's own calls, the credentials serve the exchanges of request tokens.
 *   With CONCUR_REFRESH_TOKEN as well they also drive the refresh-token grant, which takes over
 *   once Concur refuses the static token. Concur credentials without CONCUR_BASE_URL are a
 *   mistake (that would silently start the sandbox instead of talking to Concur).
 * - CONCUR_EXCHANGE_URL defaults to CONCUR_TOKEN_URL, which defaults as above.
 * - RELAY_CORS_ORIGINS replaces the default list; list `chrome-extension://*,moz-extension://*`
 *   too if the extension must still work. `*` alone allows any origin.
 */
const RelayEnvSchema = EnvVariables.superRefine(checkCombinations, { when: () => true }).transform(toRelayConfig);

export function parseConfig(env: Env): ParseConfigResult {
  const result = RelayEnvSchema.safeParse(env);
  if (result.success) return { ok: true, config: result.data };
  return { ok: false, problems: problemLines(result.error.issues, EnvVariables.keyof().options) };
}

/** The text to print (on stderr) when the relay cannot start: a heading, then one line per problem. */
export function formatProblems(problems: readonly string[]): string {
  const heading =
    problems.length === 1
      ? 'The relay cannot start: 1 problem with its configuration:'
      : `The relay cannot start: ${problems.length} problems with its configuration:`;
  return [heading, ...problems.map((problem) => `  - ${problem}`)].join('\n');
}
