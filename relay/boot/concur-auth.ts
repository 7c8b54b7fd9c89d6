import type { RelayConfig } from '../base/config-shape.js';
import type { ConcurCallObservation } from '../base/metrics.js';
import { refreshTokenGrant, staticToken, type TokenProvider } from '../concur/auth.js';
import { clientCredentialsGrant } from '../concur/client-credentials.js';
import type { RunningSandbox } from '../sandbox/server.js';
import type { RelayState } from '../store/index.js';

/**
 * The relay's own Concur credential, from the configuration: a static token, the refresh-token
 * grant, or (API 3.2) the client-credentials grant. Sandbox mode takes the sandbox's: its static
 * token under 3.0, its client-credentials grant under 3.2, so that `npm start` in 3.2 walks the
 * same path to a token and its geolocation as a real deployment does.
 */
export async function concurAuth(
  config: RelayConfig,
  store: { state: Pick<RelayState, 'currentRefreshToken' | 'saveRefreshToken'> },
  sandbox: RunningSandbox | null,
  observe: (call: ConcurCallObservation) => void,
): Promise<TokenProvider> {
  const timeoutMs = config.concur.timeoutSeconds * 1000;
  const observeToken = (outcome: number | string, seconds: number) => observe({ operation: 'token', outcome, seconds });
  if (config.mode === 'sandbox') {
    if (sandbox === null) throw new Error('sandbox mode without a sandbox');
    if (config.concur.apiVersion === '3.0') return staticToken(sandbox.accessToken, config.concur.authScheme);
    const { clientId, clientSecret } = sandbox;
    return clientCredentialsGrant({ tokenUrl: `${sandbox.url}/oauth2/v0/token`, clientId, clientSecret, timeoutMs, observe: observeToken });
  }
  const credential = config.concur.credential;
  switch (credential.kind) {
    case 'accessToken':
      return staticToken(credential.accessToken, config.concur.authScheme);
    case 'clientCredentials':
      return clientCredentialsGrant({ ...credential, timeoutMs, observe: observeToken });
    case 'refreshToken':
      return refreshTokenGrant({
        tokenUrl: credential.tokenUrl,
        clientId: credential.clientId,
        clientSecret: credential.clientSecret,
        // Concur rotates refresh tokens; the newest one lives in the store.
        refreshToken: await store.state.currentRefreshToken(credential.refreshToken),
        // Awaited by the grant: the rotated token is stored before the new access token is used.
        onRefreshToken: async (rotated) => {
          await store.state.saveRefreshToken(credential.refreshToken, rotated);
        },
        // OAuth 2.0 tokens are JWTs, and Concur takes those as Bearer only: CONCUR_AUTH_SCHEME is for a static token.
        scheme: 'Bearer',
        initial: credential.accessToken === undefined ? undefined : { token: credential.accessToken, scheme: config.concur.authScheme },
        timeoutMs,
        observe: observeToken,
      });
  }
}
