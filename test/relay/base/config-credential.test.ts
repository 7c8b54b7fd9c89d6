import { describe, expect, it } from 'vitest';
import { formatProblems, parseConfig } from '../../../relay/base/config.js';
import { RelayConfigSchema, type RelayConfig } from '../../../relay/base/config-shape.js';

/** CONCUR_API_VERSION and what it changes: the credential, its scheme, the exchange's default form. */

const KEY = 'k3y-0123456789abcdef-relay';
const TOKEN = 'tok3n-hush-static-access-token';
const CLIENT_ID = 'client-id-hush-1234';
const CLIENT_SECRET = 'client-secret-hush-5678';
const REFRESH = 'refresh-token-hush-9abc';
const VAULT = Buffer.from('vault-key-hush-of-32-bytes-exact').toString('base64');
const BASE = { CONCUR_BASE_URL: 'https://us.api.concursolutions.com', RELAY_API_KEYS: KEY, RELAY_VAULT_KEY: VAULT };
const V32 = { ...BASE, CONCUR_API_VERSION: '3.2' };

function ok(env: Record<string, string>): RelayConfig {
  const result = parseConfig(env);
  if (!result.ok) throw new Error(`expected a valid configuration, got:\n${formatProblems(result.problems)}`);
  expect(RelayConfigSchema.safeParse(result.config).success).toBe(true);
  return result.config;
}

function problems(env: Record<string, string>): string[] {
  const result = parseConfig(env);
  if (result.ok) throw new Error('expected problems, the configuration was accepted');
  return result.problems;
}

describe('CONCUR_API_VERSION', () => {
  it('is 3.0 unless set, with 3.0’s defaults: OAuth for a static token, the legacy exchange', () => {
    const config = ok({ ...BASE, CONCUR_ACCESS_TOKEN: TOKEN });
    expect(config.concur).toMatchObject({ apiVersion: '3.0', authScheme: 'OAuth', credential: { kind: 'accessToken' } });
    expect(config.exchange.form).toBe('legacy');
  });

  it('3.2: client id and secret alone are the client-credentials grant, at the base URL’s token endpoint unless CONCUR_TOKEN_URL says', () => {
    const config = ok({ ...V32, CONCUR_CLIENT_ID: CLIENT_ID, CONCUR_CLIENT_SECRET: CLIENT_SECRET });
    expect(config.concur).toMatchObject({
      apiVersion: '3.2',
      authScheme: 'Bearer',
      credential: { kind: 'clientCredentials', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, tokenUrl: 'https://us.api.concursolutions.com/oauth2/v0/token' },
    });
    // The same credentials serve the exchange, as the password grant (3.2's default).
    expect(config.exchange).toEqual({ form: 'password', tokenUrl: 'https://us.api.concursolutions.com/oauth2/v0/token', credentials: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } });
    const elsewhere = ok({ ...V32, CONCUR_CLIENT_ID: CLIENT_ID, CONCUR_CLIENT_SECRET: CLIENT_SECRET, CONCUR_TOKEN_URL: 'https://emea.api.concursolutions.com/oauth2/v0/token' });
    expect(elsewhere.concur.credential).toMatchObject({ kind: 'clientCredentials', tokenUrl: 'https://emea.api.concursolutions.com/oauth2/v0/token' });
  });

  it('3.2: a static token goes as Bearer; a refresh token still asks for the refresh grant; CONCUR_EXCHANGE still decides', () => {
    expect(ok({ ...V32, CONCUR_ACCESS_TOKEN: TOKEN }).concur).toMatchObject({ authScheme: 'Bearer', credential: { kind: 'accessToken' } });
    const refresh = ok({ ...V32, CONCUR_CLIENT_ID: CLIENT_ID, CONCUR_CLIENT_SECRET: CLIENT_SECRET, CONCUR_REFRESH_TOKEN: REFRESH });
    expect(refresh.concur.credential).toMatchObject({ kind: 'refreshToken', refreshToken: REFRESH });
    expect(ok({ ...V32, CONCUR_ACCESS_TOKEN: TOKEN, CONCUR_EXCHANGE: 'legacy' }).exchange.form).toBe('legacy');
  });

  it('3.2 in sandbox mode: Bearer and the password grant by default', () => {
    const config = ok({ CONCUR_API_VERSION: '3.2' });
    expect(config.mode).toBe('sandbox');
    expect(config.concur).toMatchObject({ apiVersion: '3.2', authScheme: 'Bearer', credential: null });
    expect(config.exchange.form).toBe('password');
  });

  it('3.0 keeps its rules: client id and secret without a refresh token are not a credential of the relay’s own', () => {
    const lines = problems({ ...BASE, CONCUR_CLIENT_ID: CLIENT_ID, CONCUR_CLIENT_SECRET: CLIENT_SECRET });
    expect(lines.find((line) => line.startsWith('CONCUR_REFRESH_TOKEN: '))).toMatch(/the refresh-token grant needs/);
  });

  const mistakes: Array<[string, Record<string, string>, string, RegExp]> = [
    ['a version the relay does not speak', { CONCUR_API_VERSION: '3.1' }, 'CONCUR_API_VERSION', /^CONCUR_API_VERSION: must be 3\.0 or 3\.2 \(got "3\.1"\); e\.g\. CONCUR_API_VERSION=3\.0$/],
    ['OAuth under 3.2', { ...V32, CONCUR_ACCESS_TOKEN: TOKEN, CONCUR_AUTH_SCHEME: 'oauth' }, 'CONCUR_AUTH_SCHEME', /is OAuth, but CONCUR_API_VERSION is 3\.2: its tokens are JWTs, which Concur takes with the Bearer keyword only.*e\.g\. CONCUR_AUTH_SCHEME=Bearer/],
    ['half of the client credentials', { ...V32, CONCUR_CLIENT_ID: CLIENT_ID }, 'CONCUR_CLIENT_SECRET', /not set, but CONCUR_CLIENT_ID is/],
    ['no credential under 3.2', V32, 'CONCUR_ACCESS_TOKEN', /needs a credential: CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET for the client-credentials grant \(API 3\.2\)/],
  ];

  it.each(mistakes)('%s: one readable line naming the variable, no secret in it', (_name, env, variable, explanation) => {
    const lines = problems(env);
    const line = lines.find((l) => l.startsWith(`${variable}: `));
    expect(line, lines.join('\n')).toBeDefined();
    expect(line).toMatch(explanation);
    for (const secret of [TOKEN, CLIENT_ID, CLIENT_SECRET]) expect(lines.join('\n')).not.toContain(secret);
  });
});
