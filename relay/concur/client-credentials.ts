import type { TokenProvider } from './auth.js';
import type { CallObserver } from './http.js';
import { AllowedOrigins } from './origins.js';
import { callTokenEndpoint, geolocationOf, renewAt } from './token-endpoint.js';

/**
 * API 3.2's app token: the client-credentials grant, the first step of Concur's supplier flow.
 * Its form is exactly what apidoc documents for this grant (client_id, client_secret, grant_type;
 * no scope), its answer has no refresh token, so a new token is simply asked for again: shortly
 * before the old one expires (an hour), and once when Concur refuses it (401/403 → `renew()`).
 * The answer's `geolocation` is where the calls go (client.ts asks `geolocation()`).
 */

export interface ClientCredentialsOptions {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  timeoutMs?: number;
  now?: () => number;
  observe?: CallObserver;
}

export function clientCredentialsGrant(options: ClientCredentialsOptions): TokenProvider {
  const now = options.now ?? Date.now;
  // The client secret goes to the configured token URL and nowhere else.
  const allowed = new AllowedOrigins([options.tokenUrl]);
  let current: { token: string; renewAt: number; geolocation: string | null } | undefined;
  let inFlight: Promise<void> | undefined;

  async function fetchToken(): Promise<void> {
    const answer = await callTokenEndpoint({
      tokenUrl: options.tokenUrl,
      allowed,
      form: { grant_type: 'client_credentials', client_id: options.clientId, client_secret: options.clientSecret },
      timeoutMs: options.timeoutMs ?? 30_000,
      observe: options.observe,
      what: 'client-credentials grant',
    });
    const geolocation = geolocationOf(answer, options.tokenUrl, 'client-credentials grant');
    current = { token: answer.access_token, renewAt: renewAt(now(), answer.expires_in), geolocation };
  }

  // Callers at the same moment share one call to the token endpoint.
  function fetchOnce(): Promise<void> {
    inFlight ??= fetchToken().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  return {
    async authorization() {
      if (current === undefined || now() >= current.renewAt) await fetchOnce();
      // A JWT: Concur takes it with the Bearer keyword only.
      return `Bearer ${current!.token}`;
    },
    async renew() {
      current = undefined;
      await fetchOnce();
      return true;
    },
    geolocation: () => current?.geolocation ?? null,
  };
}
