import type { ConcurApiVersion, ConcurAuthScheme, ConcurCredential } from './config-shape.js';
import { DEFAULT_TOKEN_PATH } from './config-shape.js';
import type { Fix } from './env-fields.js';

/**
 * Which credential the relay talks to Concur with, by API version (config.ts reads the
 * variables; this decides what they mean together):
 *
 * - 3.0: CONCUR_ACCESS_TOKEN (sent with CONCUR_AUTH_SCHEME, `OAuth` by default), or the
 *   refresh-token grant (CONCUR_CLIENT_ID, CONCUR_CLIENT_SECRET, CONCUR_REFRESH_TOKEN).
 * - 3.2: the same, or the client-credentials grant from CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET
 *   alone (the first step of Concur's 3.2 supplier flow), whose token names the geolocation the
 *   calls go to. Every 3.2 token is a JWT, which Concur takes with the Bearer keyword only, so
 *   `OAuth` is refused here rather than by Concur's 403 at the first poll.
 */

/** What config.ts knows of the variables this reads. */
export interface CredentialVariables {
  CONCUR_API_VERSION: ConcurApiVersion;
  CONCUR_AUTH_SCHEME?: ConcurAuthScheme;
  CONCUR_ACCESS_TOKEN?: string;
  CONCUR_CLIENT_ID?: string;
  CONCUR_CLIENT_SECRET?: string;
  CONCUR_REFRESH_TOKEN?: string;
  CONCUR_TOKEN_URL?: string;
}

type CredentialVariable = Exclude<keyof CredentialVariables, 'CONCUR_API_VERSION'>;

/** The scheme a static token goes with when CONCUR_AUTH_SCHEME is unset. */
export function authSchemeOf(env: CredentialVariables): ConcurAuthScheme {
  return env.CONCUR_AUTH_SCHEME ?? (env.CONCUR_API_VERSION === '3.2' ? 'Bearer' : 'OAuth');
}

/** Under 3.2, CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET without a token or refresh token: the client-credentials grant. */
export function wantsClientCredentials(env: CredentialVariables, isSet: (name: CredentialVariable) => boolean): boolean {
  return (
    env.CONCUR_API_VERSION === '3.2' &&
    !isSet('CONCUR_ACCESS_TOKEN') &&
    !isSet('CONCUR_REFRESH_TOKEN') &&
    (isSet('CONCUR_CLIENT_ID') || isSet('CONCUR_CLIENT_SECRET'))
  );
}

/** The rules only 3.2 has; `problem` as checkCombinations reports one. */
export function checkVersionRules(
  env: CredentialVariables,
  problem: (name: 'CONCUR_AUTH_SCHEME', message: string, fix: Fix) => void,
): void {
  if (env.CONCUR_API_VERSION === '3.2' && env.CONCUR_AUTH_SCHEME === 'OAuth') {
    problem('CONCUR_AUTH_SCHEME', 'is OAuth, but CONCUR_API_VERSION is 3.2: its tokens are JWTs, which Concur takes with the Bearer keyword only', {
      advice: 'unset it (3.2 sends Bearer) or set it to Bearer',
      example: 'Bearer',
    });
  }
}

/** The "no credential at all" problem's text for the version. */
export function missingCredentialMessage(version: ConcurApiVersion): string {
  const grants =
    version === '3.2'
      ? 'CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET for the client-credentials grant (API 3.2), or CONCUR_ACCESS_TOKEN, or those two with CONCUR_REFRESH_TOKEN for the refresh-token grant'
      : 'CONCUR_ACCESS_TOKEN, or CONCUR_CLIENT_ID, CONCUR_CLIENT_SECRET and CONCUR_REFRESH_TOKEN for the refresh-token grant';
  return `not set; talking to Concur needs a credential: ${grants}`;
}

/** The credential the variables describe; checkCombinations has made sure there is one (undefined otherwise). */
export function credentialOf(env: CredentialVariables, baseUrl: string): ConcurCredential | undefined {
  const { CONCUR_CLIENT_ID: clientId, CONCUR_CLIENT_SECRET: clientSecret, CONCUR_REFRESH_TOKEN: refreshToken } = env;
  const tokenUrl = env.CONCUR_TOKEN_URL ?? `${baseUrl}${DEFAULT_TOKEN_PATH}`;
  if (clientId !== undefined && clientSecret !== undefined && refreshToken !== undefined) {
    const accessToken = env.CONCUR_ACCESS_TOKEN;
    return { kind: 'refreshToken', clientId, clientSecret, refreshToken, tokenUrl, ...(accessToken === undefined ? {} : { accessToken }) };
  }
  if (env.CONCUR_ACCESS_TOKEN !== undefined) return { kind: 'accessToken', accessToken: env.CONCUR_ACCESS_TOKEN };
  if (env.CONCUR_API_VERSION === '3.2' && clientId !== undefined && clientSecret !== undefined) {
    return { kind: 'clientCredentials', clientId, clientSecret, tokenUrl };
  }
  return undefined;
}
