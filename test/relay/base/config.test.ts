import { describe, expect, it } from 'vitest';
import { formatProblems, parseConfig } from '../../../relay/base/config.js';
import { DEFAULT_CORS_ORIGINS, RelayConfigSchema, type RelayConfig } from '../../../relay/base/config-shape.js';
import { isOriginAllowed } from '../../../relay/base/origins.js';

const KEY = 'k3y-0123456789abcdef-relay';
const TOKEN = 'tok3n-hush-static-access-token';
const CLIENT_ID = 'client-id-hush-1234';
const CLIENT_SECRET = 'client-secret-hush-5678';
const REFRESH = 'refresh-token-hush-9abc';
/** 32 bytes, base64: what `openssl rand -base64 32` prints. */
const VAULT = Buffer.from('vault-key-hush-of-32-bytes-exact').toString('base64');

function ok(env: Record<string, string | undefined>): RelayConfig {
  const result = parseConfig(env);
  if (!result.ok) throw new Error(`expected a valid configuration, got:\n${formatProblems(result.problems)}`);
  expect(RelayConfigSchema.safeParse(result.config).success).toBe(true);
  return result.config;
}

function problems(env: Record<string, string | undefined>): string[] {
  const result = parseConfig(env);
  if (result.ok) throw new Error('expected problems, the configuration was accepted');
  return result.problems;
}

const real = { CONCUR_BASE_URL: 'https://www.concursolutions.com', CONCUR_ACCESS_TOKEN: TOKEN, RELAY_API_KEYS: KEY, RELAY_VAULT_KEY: VAULT };

describe('parseConfig', () => {
  it('runs in sandbox mode with every default when nothing is set', () => {
    expect(ok({})).toEqual({
      mode: 'sandbox',
      concur: { apiVersion: '3.0', baseUrl: null, credential: null, authScheme: 'OAuth', timeoutSeconds: 30, pollIntervalSeconds: 60, replyRetryMaxSeconds: 300 },
      host: '127.0.0.1',
      port: 8787,
      apiKeys: [],
      generateApiKey: true,
      database: { kind: 'sqlite', path: './data/relay.sqlite' },
      corsOrigins: ['chrome-extension://*', 'moz-extension://*'],
      webhookAllowPrivate: false,
      logLevel: 'info',
      vaultKey: null,
      vaultOldKeys: [],
      // The sandbox's own token endpoint and client credentials serve the exchange (runtime.ts).
      exchange: { form: 'legacy', tokenUrl: null, credentials: null },
      sandboxDemoEverySeconds: 30,
      match: { directory: 'sandbox', autoReply: 'connect', timeoutSeconds: 5 },
    });
  });

  it('treats empty and blank variables as unset', () => {
    expect(ok({ CONCUR_BASE_URL: '', RELAY_PORT: '  ', RELAY_API_KEYS: ' , ,', POLL_INTERVAL_SECONDS: '' })).toEqual(ok({}));
  });

  it('uses given API keys in sandbox mode, and then generates none', () => {
    const config = ok({ RELAY_API_KEYS: ` ${KEY} ,, other-key-0123456789 ,${KEY}` });
    expect(config.apiKeys).toEqual([KEY, 'other-key-0123456789']);
    expect(config.generateApiKey).toBe(false);
  });

  it('talks to Concur with a static token when CONCUR_BASE_URL is set', () => {
    const config = ok({ ...real, CONCUR_BASE_URL: 'https://www.concursolutions.com/', CONCUR_AUTH_SCHEME: 'bearer' });
    expect(config.mode).toBe('concur');
    expect(config.concur).toEqual({
      apiVersion: '3.0',
      baseUrl: 'https://www.concursolutions.com',
      credential: { kind: 'accessToken', accessToken: TOKEN },
      authScheme: 'Bearer',
      timeoutSeconds: 30,
      pollIntervalSeconds: 60,
      replyRetryMaxSeconds: 300,
    });
    expect(config.apiKeys).toEqual([KEY]);
    expect(config.generateApiKey).toBe(false);
  });

  it('accepts the auth scheme in any case', () => {
    for (const [raw, scheme] of [['OAUTH', 'OAuth'], ['oauth', 'OAuth'], ['BEARER', 'Bearer'], ['Bearer', 'Bearer']]) {
      expect(ok({ CONCUR_AUTH_SCHEME: raw }).concur.authScheme).toBe(scheme);
    }
  });

  it('uses the refresh-token grant, with the token URL defaulting to the base URL’s /oauth2/v0/token', () => {
    const env = {
      CONCUR_BASE_URL: 'https://us.api.concursolutions.com',
      CONCUR_CLIENT_ID: CLIENT_ID,
      CONCUR_CLIENT_SECRET: CLIENT_SECRET,
      CONCUR_REFRESH_TOKEN: REFRESH,
      RELAY_API_KEYS: KEY,
      RELAY_VAULT_KEY: VAULT,
    };
    expect(ok(env).concur.credential).toEqual({
      kind: 'refreshToken',
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      refreshToken: REFRESH,
      tokenUrl: 'https://us.api.concursolutions.com/oauth2/v0/token',
    });
    const custom = ok({ ...env, CONCUR_TOKEN_URL: 'https://eu.api.concursolutions.com/oauth2/v0/token' });
    expect(custom.concur.credential).toMatchObject({ tokenUrl: 'https://eu.api.concursolutions.com/oauth2/v0/token' });
  });

  it('lets client credentials stand beside a static token: the token for the relay\'s calls, the credentials for the exchanges', () => {
    const config = ok({ ...real, CONCUR_CLIENT_ID: CLIENT_ID, CONCUR_CLIENT_SECRET: CLIENT_SECRET });
    expect(config.concur.credential).toEqual({ kind: 'accessToken', accessToken: TOKEN });
    expect(config.exchange).toEqual({
      form: 'legacy',
      tokenUrl: 'https://www.concursolutions.com/oauth2/v0/token',
      credentials: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
    });
    // Without them there is nothing to exchange with: CRSUC is refused (the runtime says so in the summary).
    expect(ok(real).exchange).toEqual({ form: 'legacy', tokenUrl: 'https://www.concursolutions.com/oauth2/v0/token', credentials: null });
  });

  it('with CONCUR_REFRESH_TOKEN as well, drives the refresh-token grant, which takes over from the static token', () => {
    // Today's rule refused a static token beside client credentials ("one or the other"): it went with the exchange.
    const config = ok({ ...real, CONCUR_CLIENT_ID: CLIENT_ID, CONCUR_CLIENT_SECRET: CLIENT_SECRET, CONCUR_REFRESH_TOKEN: REFRESH });
    expect(config.concur.credential).toEqual({
      kind: 'refreshToken',
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      refreshToken: REFRESH,
      tokenUrl: 'https://www.concursolutions.com/oauth2/v0/token',
      accessToken: TOKEN,
    });
    expect(config.exchange.credentials).toEqual({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  });

  it('reads CONCUR_EXCHANGE (legacy by default, for API 3.0) and CONCUR_EXCHANGE_URL (default CONCUR_TOKEN_URL, then the base URL\'s /oauth2/v0/token)', () => {
    const creds = { ...real, CONCUR_CLIENT_ID: CLIENT_ID, CONCUR_CLIENT_SECRET: CLIENT_SECRET };
    expect(ok({ ...creds, CONCUR_EXCHANGE: 'Password' }).exchange).toMatchObject({ form: 'password', tokenUrl: 'https://www.concursolutions.com/oauth2/v0/token' });
    const tokenUrl = 'https://us.api.concursolutions.com/oauth2/v0/token';
    expect(ok({ ...creds, CONCUR_TOKEN_URL: tokenUrl }).exchange.tokenUrl).toBe(tokenUrl);
    const exchangeUrl = 'https://glz.api.concursolutions.com/oauth2/v0/token';
    expect(ok({ ...creds, CONCUR_TOKEN_URL: tokenUrl, CONCUR_EXCHANGE_URL: exchangeUrl }).exchange.tokenUrl).toBe(exchangeUrl);
    expect(ok({ CONCUR_EXCHANGE: 'password' }).exchange).toEqual({ form: 'password', tokenUrl: null, credentials: null });
  });

  it('reads every other variable', () => {
    const config = ok({
      CONCUR_TIMEOUT_SECONDS: '2.5',
      POLL_INTERVAL_SECONDS: '1',
      REPLY_RETRY_MAX_SECONDS: '20',
      RELAY_HOST: '0.0.0.0',
      RELAY_PORT: '0',
      RELAY_DB: '/var/lib/relay/relay.sqlite',
      RELAY_CORS_ORIGINS: 'https://ops.example.com, chrome-extension://abcdefghijklmnopabcdefghijklmnop ,HTTPS://*.Example.org:8443/',
      RELAY_WEBHOOK_ALLOW_PRIVATE: 'YES',
    });
    expect(config).toMatchObject({
      concur: { timeoutSeconds: 2.5, pollIntervalSeconds: 1, replyRetryMaxSeconds: 20 },
      host: '0.0.0.0',
      port: 0,
      database: { kind: 'sqlite', path: '/var/lib/relay/relay.sqlite' },
      corsOrigins: ['https://ops.example.com', 'chrome-extension://abcdefghijklmnopabcdefghijklmnop', 'https://*.example.org:8443'],
      webhookAllowPrivate: true,
    });
    for (const [raw, value] of [['true', true], ['1', true], ['no', false], ['0', false], ['FALSE', false], ['on', true]] as const) {
      expect(ok({ RELAY_WEBHOOK_ALLOW_PRIVATE: raw }).webhookAllowPrivate).toBe(value);
    }
    expect(ok({ RELAY_HOST: '[::1]' }).host).toBe('::1');
    expect(ok({ RELAY_HOST: '::' }).host).toBe('::');
    expect(ok({ RELAY_HOST: 'relay.internal' }).host).toBe('relay.internal');
    expect(ok({ RELAY_CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
  });

  it('reads LOG_LEVEL, a pino level in any case', () => {
    for (const [raw, level] of [['debug', 'debug'], ['WARN', 'warn'], [' silent ', 'silent'], ['Trace', 'trace']]) {
      expect(ok({ LOG_LEVEL: raw }).logLevel).toBe(level);
    }
    expect(ok({ ...real, LOG_LEVEL: 'error' }).logLevel).toBe('error');
  });

  it('reads SANDBOX_DEMO_EVERY_SECONDS in sandbox mode (0: no demo requests); Concur mode has no demo', () => {
    expect(ok({ SANDBOX_DEMO_EVERY_SECONDS: '0' }).sandboxDemoEverySeconds).toBe(0);
    expect(ok({ SANDBOX_DEMO_EVERY_SECONDS: '+5' }).sandboxDemoEverySeconds).toBe(5);
    expect(ok({ SANDBOX_DEMO_EVERY_SECONDS: '86400' }).sandboxDemoEverySeconds).toBe(86_400);
    expect(ok(real).sandboxDemoEverySeconds).toBeNull();
    expect(ok({ ...real, SANDBOX_DEMO_EVERY_SECONDS: '5' }).sandboxDemoEverySeconds).toBeNull();
  });

  describe('mistakes', () => {
    /** Each case: the environment, the variable the line must start with, a piece of the explanation, the example. */
    const cases: Array<[string, Record<string, string>, string, RegExp]> = [
      ['base URL not a URL', { ...real, CONCUR_BASE_URL: 'www.concursolutions.com' }, 'CONCUR_BASE_URL', /http\(s\) URL \(got "www\.concursolutions\.com"\); e\.g\. CONCUR_BASE_URL=https:\/\//],
      ['base URL not http', { ...real, CONCUR_BASE_URL: 'ftp://concur.example' }, 'CONCUR_BASE_URL', /http\(s\) URL/],
      ['base URL with a query', { ...real, CONCUR_BASE_URL: 'https://www.concursolutions.com/?x=1' }, 'CONCUR_BASE_URL', /query/],
      ['auth scheme', { CONCUR_AUTH_SCHEME: 'Basic' }, 'CONCUR_AUTH_SCHEME', /must be OAuth or Bearer \(got "Basic"\); e\.g\. CONCUR_AUTH_SCHEME=/],
      ['no credential', { CONCUR_BASE_URL: 'https://www.concursolutions.com', RELAY_API_KEYS: KEY }, 'CONCUR_ACCESS_TOKEN', /needs a credential.*CONCUR_REFRESH_TOKEN/],
      ['no API key outside sandbox', { CONCUR_BASE_URL: 'https://www.concursolutions.com', CONCUR_ACCESS_TOKEN: TOKEN }, 'RELAY_API_KEYS', /required when CONCUR_BASE_URL is set.*e\.g\. RELAY_API_KEYS=/],
      ['no vault key outside sandbox', { ...real, RELAY_VAULT_KEY: '' }, 'RELAY_VAULT_KEY', /required when CONCUR_BASE_URL is set.*openssl rand -base64 32/],
      ['vault key too short', { RELAY_VAULT_KEY: Buffer.from('sixteen-bytes-hu').toString('base64') }, 'RELAY_VAULT_KEY', /32 random bytes in base64 or hex \(value not shown\).*openssl rand -base64 32/],
      ['old vault key not a key', { RELAY_VAULT_OLD_KEYS: `${VAULT},not-a-key-hush` }, 'RELAY_VAULT_OLD_KEYS', /key 2 of 2 is not 32 random bytes/],
      ['credentials without base URL', { CONCUR_ACCESS_TOKEN: TOKEN }, 'CONCUR_BASE_URL', /not set, but Concur credentials are \(CONCUR_ACCESS_TOKEN\)/],
      ['incomplete refresh grant', { ...real, CONCUR_ACCESS_TOKEN: '', CONCUR_CLIENT_ID: CLIENT_ID, CONCUR_REFRESH_TOKEN: REFRESH }, 'CONCUR_CLIENT_SECRET', /not set, but CONCUR_CLIENT_ID and CONCUR_REFRESH_TOKEN are/],
      ['half of the exchange credentials', { ...real, CONCUR_CLIENT_ID: CLIENT_ID }, 'CONCUR_CLIENT_SECRET', /not set, but CONCUR_CLIENT_ID is; the exchange of request tokens needs CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET/],
      ['exchange URL without credentials', { ...real, CONCUR_EXCHANGE_URL: 'https://us.api.concursolutions.com/oauth2/v0/token' }, 'CONCUR_CLIENT_ID', /not set, but CONCUR_EXCHANGE_URL is/],
      ['exchange form', { CONCUR_EXCHANGE: 'authcode' }, 'CONCUR_EXCHANGE', /must be legacy or password \(got "authcode"\); e\.g\. CONCUR_EXCHANGE=legacy/],
      ['exchange URL not a URL', { ...real, CONCUR_CLIENT_ID: CLIENT_ID, CONCUR_CLIENT_SECRET: CLIENT_SECRET, CONCUR_EXCHANGE_URL: 'token-endpoint' }, 'CONCUR_EXCHANGE_URL', /http\(s\) URL/],
      ['token URL alone', { ...real, CONCUR_TOKEN_URL: 'https://us.api.concursolutions.com/oauth2/v0/token' }, 'CONCUR_CLIENT_ID', /not set, but CONCUR_TOKEN_URL is/],
      ['bad token URL', { ...real, CONCUR_ACCESS_TOKEN: '', CONCUR_CLIENT_ID: CLIENT_ID, CONCUR_CLIENT_SECRET: CLIENT_SECRET, CONCUR_REFRESH_TOKEN: REFRESH, CONCUR_TOKEN_URL: 'token-endpoint' }, 'CONCUR_TOKEN_URL', /http\(s\) URL/],
      ['token with a space', { ...real, CONCUR_ACCESS_TOKEN: 'OAuth abc' }, 'CONCUR_ACCESS_TOKEN', /contains spaces/],
      ['timeout zero', { CONCUR_TIMEOUT_SECONDS: '0' }, 'CONCUR_TIMEOUT_SECONDS', /greater than 0 \(got "0"\); e\.g\. CONCUR_TIMEOUT_SECONDS=30/],
      ['timeout words', { CONCUR_TIMEOUT_SECONDS: '30s' }, 'CONCUR_TIMEOUT_SECONDS', /got "30s"/],
      ['timeout huge', { CONCUR_TIMEOUT_SECONDS: '9999' }, 'CONCUR_TIMEOUT_SECONDS', /at most 600/],
      ['poll zero', { POLL_INTERVAL_SECONDS: '0' }, 'POLL_INTERVAL_SECONDS', /^POLL_INTERVAL_SECONDS: must be a whole number of seconds, at least 1 \(got "0"\); e\.g\. POLL_INTERVAL_SECONDS=60$/],
      ['poll fraction', { POLL_INTERVAL_SECONDS: '1.5' }, 'POLL_INTERVAL_SECONDS', /whole number/],
      ['poll negative', { POLL_INTERVAL_SECONDS: '-5' }, 'POLL_INTERVAL_SECONDS', /got "-5"/],
      ['reply retry zero', { REPLY_RETRY_MAX_SECONDS: '0' }, 'REPLY_RETRY_MAX_SECONDS', /^REPLY_RETRY_MAX_SECONDS: must be a whole number of seconds, at least 1 \(got "0"\); e\.g\. REPLY_RETRY_MAX_SECONDS=300$/],
      ['reply retry over an hour', { REPLY_RETRY_MAX_SECONDS: '7200' }, 'REPLY_RETRY_MAX_SECONDS', /at most 3600 \(one hour\)/],
      ['port too big', { RELAY_PORT: '70000' }, 'RELAY_PORT', /0 to 65535.*got "70000".*e\.g\. RELAY_PORT=8787/],
      ['port not a number', { RELAY_PORT: 'http' }, 'RELAY_PORT', /got "http"/],
      ['host with scheme', { RELAY_HOST: 'http://localhost:8787' }, 'RELAY_HOST', /host name or IP address/],
      ['short API key', { RELAY_API_KEYS: 'short-key' }, 'RELAY_API_KEYS', /too short \(9 characters, value not shown\); use at least 16/],
      ['API key with a space', { RELAY_API_KEYS: `${KEY}, two words-0123456789` }, 'RELAY_API_KEYS', /key 2 of 2 contains spaces/],
      ['DB is a folder', { RELAY_DB: './data/' }, 'RELAY_DB', /must be a file/],
      ['CORS with a path', { RELAY_CORS_ORIGINS: 'chrome-extension://*,https://ops.example.com/app' }, 'RELAY_CORS_ORIGINS', /"https:\/\/ops\.example\.com\/app" is not an origin/],
      ['CORS with an extension id no browser uses', { RELAY_CORS_ORIGINS: 'chrome-extension://abc' }, 'RELAY_CORS_ORIGINS', /"chrome-extension:\/\/abc" is not an origin/],
      ['CORS without scheme', { RELAY_CORS_ORIGINS: 'ops.example.com' }, 'RELAY_CORS_ORIGINS', /not an origin/],
      ['allow private', { RELAY_WEBHOOK_ALLOW_PRIVATE: 'maybe' }, 'RELAY_WEBHOOK_ALLOW_PRIVATE', /true or false.*got "maybe".*e\.g\. RELAY_WEBHOOK_ALLOW_PRIVATE=false/],
      ['log level', { LOG_LEVEL: 'verbose' }, 'LOG_LEVEL', /must be fatal, error, warn, info, debug, trace or silent \(got "verbose"\); e\.g\. LOG_LEVEL=info/],
      ['demo fraction', { SANDBOX_DEMO_EVERY_SECONDS: '1.5' }, 'SANDBOX_DEMO_EVERY_SECONDS', /whole number of seconds, 0 or more.*got "1\.5".*e\.g\. SANDBOX_DEMO_EVERY_SECONDS=30/],
      ['demo negative', { SANDBOX_DEMO_EVERY_SECONDS: '-1' }, 'SANDBOX_DEMO_EVERY_SECONDS', /got "-1"/],
      ['demo words', { SANDBOX_DEMO_EVERY_SECONDS: 'off' }, 'SANDBOX_DEMO_EVERY_SECONDS', /0 or more \(0: no demo requests\) \(got "off"\)/],
      ['demo huge', { SANDBOX_DEMO_EVERY_SECONDS: '86401' }, 'SANDBOX_DEMO_EVERY_SECONDS', /at most 86400/],
      ['demo in Concur mode', { ...real, SANDBOX_DEMO_EVERY_SECONDS: 'soon' }, 'SANDBOX_DEMO_EVERY_SECONDS', /got "soon"/],
    ];

    it.each(cases)('%s: one readable line naming the variable', (_name, env, variable, explanation) => {
      const lines = problems(env);
      const line = lines.find((l) => l.startsWith(`${variable}: `));
      expect(line, lines.join('\n')).toBeDefined();
      expect(line).toMatch(explanation);
      expect(line).toMatch(/e\.g\. /);
      for (const l of lines) expect(l).not.toContain('\n');
    });

    it('never echoes a secret, whatever is wrong with it', () => {
      const secrets = [TOKEN, CLIENT_ID, CLIENT_SECRET, REFRESH, KEY, VAULT, 'short-key', 'has space-hush', 'a"quote-hush'];
      const envs: Array<Record<string, string>> = [
        { CONCUR_ACCESS_TOKEN: TOKEN, CONCUR_CLIENT_ID: CLIENT_ID },
        { CONCUR_BASE_URL: 'nope', CONCUR_ACCESS_TOKEN: TOKEN, CONCUR_CLIENT_SECRET: CLIENT_SECRET, CONCUR_REFRESH_TOKEN: REFRESH },
        { ...real, CONCUR_ACCESS_TOKEN: 'has space-hush', RELAY_API_KEYS: `short-key,${KEY},a"quote-hush` },
        { ...real, CONCUR_CLIENT_ID: 'has space-hush', CONCUR_CLIENT_SECRET: 'a"quote-hush' },
        { ...real, CONCUR_BASE_URL: 'https://user:hushpass@www.concursolutions.com' },
        { ...real, CONCUR_BASE_URL: 'htp://user:hushpass@www' },
        { ...real, RELAY_VAULT_KEY: `${VAULT}x`, RELAY_VAULT_OLD_KEYS: `${VAULT},not-a-key-hush` },
      ];
      for (const env of envs) {
        const text = formatProblems(problems(env));
        for (const secret of [...secrets, 'hush']) expect(text).not.toContain(secret);
      }
    });

    it('gives a bad LOG_LEVEL as exactly one line', () => {
      expect(problems({ LOG_LEVEL: 'verbose' })).toEqual([
        'LOG_LEVEL: must be fatal, error, warn, info, debug, trace or silent (got "verbose"); e.g. LOG_LEVEL=info',
      ]);
    });

    it('counts a variable whose value is rejected as set, for the rules between variables', () => {
      const lines = problems({ CONCUR_BASE_URL: 'nope', CONCUR_CLIENT_ID: 'has space-hush', RELAY_API_KEYS: 'short-key' });
      expect(lines.map((l) => l.slice(0, l.indexOf(':')))).toEqual([
        'CONCUR_BASE_URL',
        'CONCUR_CLIENT_ID',
        'CONCUR_CLIENT_SECRET',
        'CONCUR_REFRESH_TOKEN',
        'RELAY_API_KEYS',
        // Outside sandbox mode the vault key is required too (it is not set here at all).
        'RELAY_VAULT_KEY',
      ]);
      // Not "CONCUR_BASE_URL: not set, but …" nor "RELAY_API_KEYS: not set; …": both are set, only wrong.
      expect(lines.join('\n')).not.toMatch(/not set, but Concur credentials|RELAY_API_KEYS: not set/);
    });

    it('reports every problem at once', () => {
      const lines = problems({
        CONCUR_BASE_URL: 'https://www.concursolutions.com',
        CONCUR_AUTH_SCHEME: 'Digest',
        POLL_INTERVAL_SECONDS: '0',
        RELAY_PORT: '-1',
        RELAY_CORS_ORIGINS: 'nope',
        RELAY_WEBHOOK_ALLOW_PRIVATE: 'perhaps',
      });
      expect(lines.map((l) => l.slice(0, l.indexOf(':')))).toEqual([
        'CONCUR_AUTH_SCHEME',
        'CONCUR_ACCESS_TOKEN',
        'POLL_INTERVAL_SECONDS',
        'RELAY_PORT',
        'RELAY_API_KEYS',
        'RELAY_CORS_ORIGINS',
        'RELAY_WEBHOOK_ALLOW_PRIVATE',
        'RELAY_VAULT_KEY',
      ]);
    });
  });
});

describe('formatProblems', () => {
  it('gives a heading and one line per problem', () => {
    expect(formatProblems(['A: one', 'B: two'])).toBe(
      'The relay cannot start: 2 problems with its configuration:\n  - A: one\n  - B: two',
    );
    expect(formatProblems(['A: one']).split('\n')).toHaveLength(2);
  });
});

describe('isOriginAllowed', () => {
  it('allows extension origins by default, and nothing else', () => {
    expect(isOriginAllowed('chrome-extension://abcdefghijklmnopabcdefghijklmnop', DEFAULT_CORS_ORIGINS)).toBe(true);
    expect(isOriginAllowed('moz-extension://0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', DEFAULT_CORS_ORIGINS)).toBe(true);
    expect(isOriginAllowed('https://evil.example', DEFAULT_CORS_ORIGINS)).toBe(false);
    expect(isOriginAllowed('null', DEFAULT_CORS_ORIGINS)).toBe(false);
  });

  it('matches hosts, subdomain wildcards and ports exactly', () => {
    const patterns = ['https://ops.example.com', 'https://*.example.org:8443', 'http://localhost:*'];
    expect(isOriginAllowed('https://ops.example.com', patterns)).toBe(true);
    expect(isOriginAllowed('HTTPS://OPS.EXAMPLE.COM', patterns)).toBe(true);
    expect(isOriginAllowed('https://ops.example.com:444', patterns)).toBe(false);
    expect(isOriginAllowed('http://ops.example.com', patterns)).toBe(false);
    expect(isOriginAllowed('https://ops.example.com.evil.net', patterns)).toBe(false);
    expect(isOriginAllowed('https://a.b.example.org:8443', patterns)).toBe(true);
    expect(isOriginAllowed('https://example.org:8443', patterns)).toBe(false);
    expect(isOriginAllowed('https://evilexample.org:8443', patterns)).toBe(false);
    expect(isOriginAllowed('http://localhost:5173', patterns)).toBe(true);
    expect(isOriginAllowed('http://localhost', patterns)).toBe(true);
    expect(isOriginAllowed('https://anything.example', ['*'])).toBe(true);
  });

  it('allows only well-formed origins: 32 letters a–p for Chrome, a UUID for Firefox, host names elsewhere', () => {
    for (const origin of [
      'chrome-extension://abc evil',
      'chrome-extension://abc',
      'chrome-extension://abcdefghijklmnopabcdefghijklmnoz',
      'chrome-extension://abcdefghijklmnopabcdefghijklmnop/x',
      'moz-extension://abc',
      'moz-extension://0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0x',
    ]) {
      expect(isOriginAllowed(origin, DEFAULT_CORS_ORIGINS), origin).toBe(false);
      expect(isOriginAllowed(origin, ['*']), origin).toBe(false);
    }
    expect(isOriginAllowed('https://a b.example.org', ['https://*.example.org'])).toBe(false);
    expect(isOriginAllowed('https://x.example.org:65536', ['https://*.example.org:*'])).toBe(false);
    expect(isOriginAllowed('https://x.example.org:8443', ['https://*.example.org:*'])).toBe(true);
  });
});
