import { z } from 'zod';

/**
 * The relay's configuration, read from the environment (DESIGN.md, "Relay: how it starts").
 *
 * Rules that hold for every variable:
 * - A variable that is unset, empty or only whitespace counts as unset (so `FOO=` in an env file
 *   means "use the default"). Values are trimmed.
 * - Every mistake gives one line: the variable, what is wrong, an example of a good value.
 *   All mistakes are reported at once, never only the first.
 * - Secret values (tokens, client id and secret, API keys) are never echoed in a problem line.
 */

export const DEFAULT_DB_PATH = './data/relay.sqlite';
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8787;
export const DEFAULT_TIMEOUT_SECONDS = 30;
export const MAX_TIMEOUT_SECONDS = 600;
export const DEFAULT_POLL_INTERVAL_SECONDS = 60;
export const MAX_POLL_INTERVAL_SECONDS = 86_400;
export const MIN_API_KEY_LENGTH = 16;
/** Browser-extension origins only: any Chrome (and Chromium) or Firefox extension. */
export const DEFAULT_CORS_ORIGINS: readonly string[] = ['chrome-extension://*', 'moz-extension://*'];
/** Appended to CONCUR_BASE_URL when CONCUR_TOKEN_URL is unset (Concur's OAuth 2.0 token endpoint). */
export const DEFAULT_TOKEN_PATH = '/oauth2/v0/token';

// ---------------------------------------------------------------------------------------------
// The parsed configuration (the shape the rest of the relay uses)
// ---------------------------------------------------------------------------------------------

export const ConcurAuthScheme = z.enum(['OAuth', 'Bearer']);
export type ConcurAuthScheme = z.infer<typeof ConcurAuthScheme>;

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
  }),
]);
export type ConcurCredential = z.infer<typeof ConcurCredential>;

const ConcurSettings = z.object({
  authScheme: ConcurAuthScheme,
  /** Timeout of one Concur call, in seconds (may be fractional). */
  timeoutSeconds: z.number().positive().max(MAX_TIMEOUT_SECONDS),
  /** Time between polls, in whole seconds. */
  pollIntervalSeconds: z.number().int().min(1).max(MAX_POLL_INTERVAL_SECONDS),
});

const CommonSettings = {
  host: z.string().min(1),
  /** 0 lets the system pick a free port (tests). */
  port: z.number().int().min(0).max(65535),
  /** Accepted API keys, trimmed, de-duplicated, in the order given. */
  apiKeys: z.array(z.string().min(MIN_API_KEY_LENGTH)),
  /** True only in sandbox mode with RELAY_API_KEYS unset: the starter must generate (and print) a key. */
  generateApiKey: z.boolean(),
  dbPath: z.string().min(1),
  /** Allowed browser origin patterns; match with `isOriginAllowed`. */
  corsOrigins: z.array(z.string().min(1)).min(1),
  webhookAllowPrivate: z.boolean(),
};

export const RelayConfigSchema = z.discriminatedUnion('mode', [
  /** CONCUR_BASE_URL unset: the relay runs against the embedded sandbox, which the starter provides. */
  z.object({
    mode: z.literal('sandbox'),
    concur: ConcurSettings.extend({ baseUrl: z.null(), credential: z.null() }),
    ...CommonSettings,
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
  }),
]);
export type RelayConfig = z.infer<typeof RelayConfigSchema>;

export type ParseConfigResult = { ok: true; config: RelayConfig } | { ok: false; problems: string[] };

// ---------------------------------------------------------------------------------------------
// Reading the environment
// ---------------------------------------------------------------------------------------------

type Env = Record<string, string | undefined>;

const SECRET_EXAMPLE = {
  CONCUR_ACCESS_TOKEN: '<the access token from Concur>',
  CONCUR_CLIENT_ID: '<your app client id>',
  CONCUR_CLIENT_SECRET: '<your app client secret>',
  CONCUR_REFRESH_TOKEN: '<the refresh token from Concur>',
} as const;
type SecretVar = keyof typeof SECRET_EXAMPLE;

const API_KEY_EXAMPLE = 'RELAY_API_KEYS=$(openssl rand -hex 24)';
const BASE_URL_EXAMPLE = 'CONCUR_BASE_URL=https://www.concursolutions.com';
const REFRESH_VARS = ['CONCUR_CLIENT_ID', 'CONCUR_CLIENT_SECRET', 'CONCUR_REFRESH_TOKEN'] as const;

/** Trimmed value, or undefined when unset, empty or blank. */
function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** `(got "…")` for a value that is safe to show; long values are shortened. */
function got(value: string): string {
  const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return `(got ${JSON.stringify(shown)})`;
}

/** A visible-ASCII token with no spaces: what can go in an HTTP header as a credential. */
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

function isUrl(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

class Reader {
  readonly problems: string[] = [];

  constructor(readonly env: Env) {}

  problem(line: string): void {
    this.problems.push(line);
  }

  /** A secret: never shown. Returns undefined (and records a problem) when it cannot be sent in a header. */
  secret(name: SecretVar): string | undefined {
    const value = read(this.env, name);
    if (value === undefined) return undefined;
    if (!TOKEN_CHARS.test(value)) {
      this.problem(
        `${name}: contains spaces, quotes or characters outside printable ASCII (value not shown); set the value alone, e.g. ${name}=${SECRET_EXAMPLE[name]}`,
      );
      return undefined;
    }
    return value;
  }

  /** An http(s) URL with no user name or password. Returns it without a trailing slash. */
  httpUrl(name: string, example: string, opts: { allowQuery: boolean }): string | undefined | null {
    const value = read(this.env, name);
    if (value === undefined) return undefined;
    const url = isUrl(value);
    if (url === undefined) {
      // An unparsable value may still carry credentials; only show it when it has no "@".
      const shown = value.includes('@') ? '(value not shown)' : got(value);
      this.problem(`${name}: must be an http(s) URL ${shown}; e.g. ${name}=${example}`);
      return null;
    }
    if (url.username !== '' || url.password !== '') {
      this.problem(`${name}: must not contain a user name or password (value not shown); e.g. ${name}=${example}`);
      return null;
    }
    if ((!opts.allowQuery && url.search !== '') || url.hash !== '') {
      this.problem(
        `${name}: must not have ${opts.allowQuery ? 'a fragment (#…)' : 'a query (?…) or fragment (#…)'} ${got(value)}; e.g. ${name}=${example}`,
      );
      return null;
    }
    return url.search === '' ? url.href.replace(/\/+$/, '') : url.href;
  }

  /** A number within [min, max]; `tooLow`/`tooHigh` say what is allowed. Returns the default when unset or wrong. */
  number(
    name: string,
    fallback: number,
    check: { whole: boolean; min: number; minExclusive?: boolean; max: number; tooLow: string; tooHigh: string },
  ): number {
    const value = read(this.env, name);
    if (value === undefined) return fallback;
    const n = /^\+?(\d+(\.\d+)?|\.\d+)$/.test(value) ? Number(value) : Number.NaN;
    const low = check.minExclusive ? n <= check.min : n < check.min;
    if (!Number.isFinite(n) || (check.whole && !Number.isInteger(n)) || low) {
      this.problem(`${name}: must be ${check.tooLow} ${got(value)}; e.g. ${name}=${fallback}`);
      return fallback;
    }
    if (n > check.max) {
      this.problem(`${name}: must be ${check.tooHigh} ${got(value)}; e.g. ${name}=${fallback}`);
      return fallback;
    }
    return n;
  }

  /** Comma-separated, trimmed, empties dropped. Undefined when unset or nothing is left. */
  list(name: string): string[] | undefined {
    const value = read(this.env, name);
    if (value === undefined) return undefined;
    const items = value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
    return items.length === 0 ? undefined : items;
  }
}

const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = {
  true: true,
  false: false,
  '1': true,
  '0': false,
  yes: true,
  no: false,
  on: true,
  off: false,
};

/** `scheme://host[:port]`; the host may be `*` or start with `*.`, the port may be `*`. */
const ORIGIN_PATTERN =
  /^([a-z][a-z0-9+.-]*):\/\/(\*|(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::(\d{1,5}|\*))?$/;

/** An origin as a browser serialises it (RFC 6454 §6.2): scheme, host, a port only when not the default. */
const SERIALIZED_ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/([a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::(0|[1-9]\d{0,4}))?$/;

/** Extension origins have fixed hosts: Chrome (and Edge, Opera) 32 letters a–p; Firefox a UUID. */
const EXTENSION_HOSTS: Readonly<Record<string, RegExp>> = {
  'chrome-extension': /^[a-p]{32}$/,
  'moz-extension': /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
};

/**
 * Whether `origin` (lower-cased) is an origin a browser could send. Only those are matched, so
 * that only those can be echoed in Access-Control-Allow-Origin: `*` in a pattern stood for any
 * run of characters but `/` and `:`, and `chrome-extension://abc evil` came back verbatim.
 */
function isWellFormedOrigin(origin: string): boolean {
  const match = SERIALIZED_ORIGIN.exec(origin);
  if (match === null) return false;
  const [, scheme = '', host = '', port] = match;
  const extensionHost = EXTENSION_HOSTS[scheme];
  if (extensionHost !== undefined) return port === undefined && extensionHost.test(host);
  return port === undefined || Number(port) <= 65535;
}

/** Normalises one RELAY_CORS_ORIGINS entry, or returns undefined when it is not an origin pattern. */
function originPattern(entry: string): string | undefined {
  if (entry === '*') return '*';
  const candidate = entry.toLowerCase().replace(/\/$/, '');
  const match = ORIGIN_PATTERN.exec(candidate);
  if (match === null) return undefined;
  // Without a wildcard the pattern is one origin; one no browser can send would never match.
  if (!candidate.includes('*') && !isWellFormedOrigin(candidate)) return undefined;
  const port = match[3];
  if (port !== undefined && port !== '*' && Number(port) > 65535) return undefined;
  return candidate;
}

/**
 * Whether a browser `Origin` header value is allowed by the configured patterns
 * (`*` anywhere in the host or port stands for "any"; `*` alone allows every well-formed
 * origin). An origin no browser could send (see `isWellFormedOrigin`) is never allowed.
 */
export function isOriginAllowed(origin: string, patterns: readonly string[]): boolean {
  const value = origin.trim().toLowerCase();
  if (!isWellFormedOrigin(value)) return false;
  return patterns.some((pattern) => {
    if (pattern === '*') return true;
    const match = ORIGIN_PATTERN.exec(pattern);
    if (match === null) return false;
    const [, scheme, host, port] = match;
    const escape = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    const hostSource =
      host === '*'
        ? '[^/:]+'
        : host?.startsWith('*.')
          ? `(?:[a-z0-9-]+\\.)+${escape(host.slice(2))}`
          : escape(host ?? '');
    const portSource = port === undefined ? '' : port === '*' ? '(?::\\d{1,5})?' : `:${port}`;
    return new RegExp(`^${escape(scheme ?? '')}://${hostSource}${portSource}$`).test(value);
  });
}

/**
 * Reads the relay's configuration from `env` (normally `process.env`).
 *
 * Decisions beyond the DESIGN.md table:
 * - CONCUR_TOKEN_URL defaults to `${CONCUR_BASE_URL}/oauth2/v0/token` (Concur's OAuth 2.0 token
 *   endpoint lives on the same geolocation host as the APIs); the refresh-token grant needs
 *   CONCUR_CLIENT_ID, CONCUR_CLIENT_SECRET and CONCUR_REFRESH_TOKEN.
 * - CONCUR_ACCESS_TOKEN together with the refresh-token grant is a mistake (which one wins would
 *   be a guess), and so are Concur credentials without CONCUR_BASE_URL (that would silently start
 *   the sandbox instead of talking to Concur).
 * - RELAY_CORS_ORIGINS replaces the default list; list `chrome-extension://*,moz-extension://*`
 *   too if the extension must still work. `*` alone allows any origin.
 */
export function parseConfig(env: Env): ParseConfigResult {
  const r = new Reader(env);

  // ---- Concur ----
  const baseUrl = r.httpUrl('CONCUR_BASE_URL', 'https://www.concursolutions.com', { allowQuery: false });
  const sandbox = baseUrl === undefined;

  const schemeRaw = read(env, 'CONCUR_AUTH_SCHEME');
  let authScheme: ConcurAuthScheme = 'OAuth';
  if (schemeRaw !== undefined) {
    const found = ConcurAuthScheme.options.find((option) => option.toLowerCase() === schemeRaw.toLowerCase());
    if (found === undefined) {
      r.problem(`CONCUR_AUTH_SCHEME: must be OAuth or Bearer ${got(schemeRaw)}; e.g. CONCUR_AUTH_SCHEME=OAuth`);
    } else {
      authScheme = found;
    }
  }

  const accessToken = r.secret('CONCUR_ACCESS_TOKEN');
  const refreshParts = {
    CONCUR_CLIENT_ID: r.secret('CONCUR_CLIENT_ID'),
    CONCUR_CLIENT_SECRET: r.secret('CONCUR_CLIENT_SECRET'),
    CONCUR_REFRESH_TOKEN: r.secret('CONCUR_REFRESH_TOKEN'),
  };
  const tokenUrlRaw = r.httpUrl('CONCUR_TOKEN_URL', 'https://us.api.concursolutions.com/oauth2/v0/token', {
    allowQuery: true,
  });

  // "Set" here means present in the environment, even when the value itself was rejected above.
  const isSet = (name: string) => read(env, name) !== undefined;
  const refreshSet = REFRESH_VARS.filter(isSet);
  const wantsRefresh = refreshSet.length > 0 || isSet('CONCUR_TOKEN_URL');
  const credentialVars = [...(isSet('CONCUR_ACCESS_TOKEN') ? ['CONCUR_ACCESS_TOKEN'] : []), ...refreshSet];

  if (wantsRefresh) {
    const given = [...refreshSet, ...(isSet('CONCUR_TOKEN_URL') ? ['CONCUR_TOKEN_URL'] : [])];
    for (const name of REFRESH_VARS) {
      if (isSet(name)) continue;
      r.problem(
        `${name}: not set, but ${given.join(' and ')} ${given.length === 1 ? 'is' : 'are'}; the refresh-token grant needs CONCUR_CLIENT_ID, CONCUR_CLIENT_SECRET and CONCUR_REFRESH_TOKEN; e.g. ${name}=${SECRET_EXAMPLE[name]}`,
      );
    }
    if (isSet('CONCUR_ACCESS_TOKEN')) {
      r.problem(
        `CONCUR_ACCESS_TOKEN: set together with the refresh-token grant (${given.join(', ')}); use one or the other, e.g. unset CONCUR_ACCESS_TOKEN and keep CONCUR_CLIENT_ID, CONCUR_CLIENT_SECRET and CONCUR_REFRESH_TOKEN`,
      );
    }
  }

  let credential: ConcurCredential | null = null;
  if (sandbox) {
    if (credentialVars.length > 0) {
      r.problem(
        `CONCUR_BASE_URL: not set, but Concur credentials are (${credentialVars.join(', ')}); set the Concur instance URL, e.g. ${BASE_URL_EXAMPLE}, or unset the credentials to run against the built-in sandbox`,
      );
    }
  } else {
    if (!isSet('CONCUR_ACCESS_TOKEN') && !wantsRefresh) {
      r.problem(
        `CONCUR_ACCESS_TOKEN: not set; talking to Concur needs a credential: CONCUR_ACCESS_TOKEN, or CONCUR_CLIENT_ID, CONCUR_CLIENT_SECRET and CONCUR_REFRESH_TOKEN for the refresh-token grant; e.g. CONCUR_ACCESS_TOKEN=${SECRET_EXAMPLE.CONCUR_ACCESS_TOKEN}`,
      );
    }
    const { CONCUR_CLIENT_ID: clientId, CONCUR_CLIENT_SECRET: clientSecret, CONCUR_REFRESH_TOKEN: refreshToken } =
      refreshParts;
    if (baseUrl === null) {
      // CONCUR_BASE_URL is set but wrong (already reported); the credential cannot be used.
    } else if (wantsRefresh) {
      if (clientId && clientSecret && refreshToken && tokenUrlRaw !== null) {
        credential = {
          kind: 'refreshToken',
          clientId,
          clientSecret,
          refreshToken,
          tokenUrl: tokenUrlRaw ?? `${baseUrl}${DEFAULT_TOKEN_PATH}`,
        };
      }
    } else if (accessToken !== undefined) {
      credential = { kind: 'accessToken', accessToken };
    }
  }

  const timeoutSeconds = r.number('CONCUR_TIMEOUT_SECONDS', DEFAULT_TIMEOUT_SECONDS, {
    whole: false,
    min: 0,
    minExclusive: true,
    max: MAX_TIMEOUT_SECONDS,
    tooLow: 'a number of seconds greater than 0',
    tooHigh: `a number of seconds, at most ${MAX_TIMEOUT_SECONDS}`,
  });
  const pollIntervalSeconds = r.number('POLL_INTERVAL_SECONDS', DEFAULT_POLL_INTERVAL_SECONDS, {
    whole: true,
    min: 1,
    max: MAX_POLL_INTERVAL_SECONDS,
    tooLow: 'a whole number of seconds, at least 1',
    tooHigh: `a whole number of seconds, at most ${MAX_POLL_INTERVAL_SECONDS} (one day)`,
  });

  // ---- the API server ----
  const hostRaw = read(env, 'RELAY_HOST') ?? DEFAULT_HOST;
  // Node's listen() takes an IPv6 address without brackets.
  const host = /^\[.*\]$/.test(hostRaw) ? hostRaw.slice(1, -1) : hostRaw;
  if (!/^([0-9a-fA-F.]*:[0-9a-fA-F:.]*|[A-Za-z0-9.-]+)$/.test(host)) {
    r.problem(
      `RELAY_HOST: must be a host name or IP address, without scheme, path or port ${got(hostRaw)}; e.g. RELAY_HOST=127.0.0.1 (or 0.0.0.0 for every interface)`,
    );
  }
  const port = r.number('RELAY_PORT', DEFAULT_PORT, {
    whole: true,
    min: 0,
    max: 65535,
    tooLow: 'a whole number from 0 to 65535 (0: any free port)',
    tooHigh: 'a whole number from 0 to 65535 (0: any free port)',
  });

  const keys = r.list('RELAY_API_KEYS');
  const apiKeys: string[] = [];
  if (keys === undefined) {
    if (!sandbox) {
      r.problem(
        `RELAY_API_KEYS: not set; it is required when CONCUR_BASE_URL is set (only sandbox mode generates a key); e.g. ${API_KEY_EXAMPLE}`,
      );
    }
  } else {
    keys.forEach((key, index) => {
      const which = keys.length === 1 ? 'the key' : `key ${index + 1} of ${keys.length}`;
      if (!TOKEN_CHARS.test(key)) {
        r.problem(
          `RELAY_API_KEYS: ${which} contains spaces, quotes or characters outside printable ASCII (value not shown); separate keys with commas only, e.g. ${API_KEY_EXAMPLE}`,
        );
      } else if (key.length < MIN_API_KEY_LENGTH) {
        r.problem(
          `RELAY_API_KEYS: ${which} is too short (${key.length} characters, value not shown); use at least ${MIN_API_KEY_LENGTH} random characters, e.g. ${API_KEY_EXAMPLE}`,
        );
      } else if (!apiKeys.includes(key)) {
        apiKeys.push(key);
      }
    });
  }

  const dbPath = read(env, 'RELAY_DB') ?? DEFAULT_DB_PATH;
  if (/[\\/]$/.test(dbPath)) {
    r.problem(`RELAY_DB: must be a file, not a folder ${got(dbPath)}; e.g. RELAY_DB=${DEFAULT_DB_PATH}`);
  }

  const corsEntries = r.list('RELAY_CORS_ORIGINS');
  const corsOrigins: string[] = [];
  for (const entry of corsEntries ?? DEFAULT_CORS_ORIGINS) {
    const pattern = originPattern(entry);
    if (pattern === undefined) {
      r.problem(
        `RELAY_CORS_ORIGINS: ${JSON.stringify(entry)} is not an origin (scheme://host[:port], no path; * may stand for the host or port); e.g. RELAY_CORS_ORIGINS=chrome-extension://*,moz-extension://*,https://ops.example.com`,
      );
    } else if (!corsOrigins.includes(pattern)) {
      corsOrigins.push(pattern);
    }
  }

  const allowPrivateRaw = read(env, 'RELAY_WEBHOOK_ALLOW_PRIVATE');
  let webhookAllowPrivate = false;
  if (allowPrivateRaw !== undefined) {
    const parsed = BOOLEAN_WORDS[allowPrivateRaw.toLowerCase()];
    if (parsed === undefined) {
      r.problem(
        `RELAY_WEBHOOK_ALLOW_PRIVATE: must be true or false (1/0, yes/no, on/off also work) ${got(allowPrivateRaw)}; e.g. RELAY_WEBHOOK_ALLOW_PRIVATE=false`,
      );
    } else {
      webhookAllowPrivate = parsed;
    }
  }

  if (r.problems.length > 0) return { ok: false, problems: r.problems };

  const common = { host, port, apiKeys, dbPath, corsOrigins, webhookAllowPrivate };
  const concurCommon = { authScheme, timeoutSeconds, pollIntervalSeconds };
  if (sandbox) {
    return {
      ok: true,
      config: {
        mode: 'sandbox',
        concur: { ...concurCommon, baseUrl: null, credential: null },
        ...common,
        generateApiKey: apiKeys.length === 0,
      },
    };
  }
  if (baseUrl === null || credential === null) {
    // Unreachable: every way to get here without both has recorded a problem above.
    return { ok: false, problems: ['CONCUR_BASE_URL: could not be read; e.g. ' + BASE_URL_EXAMPLE] };
  }
  return {
    ok: true,
    config: {
      mode: 'concur',
      concur: { ...concurCommon, baseUrl, credential },
      ...common,
      generateApiKey: false,
    },
  };
}

/** The text to print (on stderr) when the relay cannot start: a heading, then one line per problem. */
export function formatProblems(problems: readonly string[]): string {
  const heading =
    problems.length === 1
      ? 'The relay cannot start: 1 problem with its configuration:'
      : `The relay cannot start: ${problems.length} problems with its configuration:`;
  return [heading, ...problems.map((problem) => `  - ${problem}`)].join('\n');
}
