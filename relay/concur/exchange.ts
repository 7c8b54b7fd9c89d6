import { ConcurError } from './errors.js';
import { type CallObserver, type HttpResponse, parseRetryAfter, send } from './http.js';
import { AllowedOrigins, whereTo } from './origins.js';
import { type ConcurRefusal, type TokenAnswer, type UserTokens, readLegacyAnswer, readOAuthAnswer } from './user-tokens.js';

/**
 * The partner app's side of a connection: turning a traveller's request token into the
 * traveller's own tokens (the exchange Concur's CRSUC stands for), keeping them fresh, and
 * revoking them. Two forms, as Concur has had them:
 *
 * - `legacy` (v3.0): `GET {base}/net2/oauth2/getaccesstoken.ashx?code={requestToken}&client_id&client_secret`;
 *   refresh with `?refresh_token=…`; revoke with `POST {base}/net2/oauth2/revoketoken.ashx?token=…`
 *   under the relay's own (WS-admin) token.
 * - `password` (OAuth 2.0): `POST {tokenUrl}` `grant_type=password&username={userId}&password={requestToken}
 *   &credtype=authtoken`; refresh with `grant_type=refresh_token` at the token's stored geolocation;
 *   revoke with `DELETE {geolocation}/app-mgmt/v0/connections` under the traveller's own token.
 *
 * Failures come as ExchangeError, a closed set the outbox acts on.
 */

export type ExchangeForm = 'legacy' | 'password';

/**
 * - token_refused: Concur refused the request or refresh token (expired, used, unknown, not for
 *   this user): a new one is needed (the CRRET path; for a refresh, the connection is broken);
 * - credentials_refused: the partner's client id or secret was refused: the partner's problem;
 * - unavailable: network, timeout, 429, 5xx: worth another try after a wait;
 * - bad_response: an answer the relay cannot read, or one naming a host it will not trust.
 */
export type ExchangeErrorKind = 'token_refused' | 'credentials_refused' | 'unavailable' | 'bad_response';

export class ExchangeError extends Error {
  override readonly name = 'ExchangeError';
  constructor(
    readonly kind: ExchangeErrorKind,
    message: string,
    readonly details: { status?: number; concurCode?: number | null; retryAfterSeconds?: number } = {},
  ) {
    super(message);
  }
}

export interface ExchangeClientOptions {
  form: ExchangeForm;
  /** The Concur instance (CONCUR_BASE_URL): the legacy endpoints live there. */
  baseUrl: string;
  /** The OAuth 2.0 token endpoint of the password grant (CONCUR_EXCHANGE_URL). */
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  timeoutMs?: number;
  now?: () => number;
  observe?: CallObserver;
  /** The relay's own `Authorization` value, for the legacy revocation (a WS-admin's token). */
  appAuthorization?: () => Promise<string>;
}

/** What the refresh and revocation of one connection need to know of it. */
export interface HeldTokens {
  form: ExchangeForm;
  accessToken: string;
  refreshToken: string;
  /** OAuth 2.0: where refreshes and revocations go; null for the legacy form. */
  geolocation: string | null;
}

const MAX_ANSWER_BYTES = 64 * 1024;
/** Concur documents these OAuth 2.0 codes for a request or refresh token it will not take. */
const TOKEN_CODES = new Set([103, 108, 136]);
/** …and this one for a client id or secret it will not take. */
const CREDENTIALS_CODE = 5;

export class ExchangeClient {
  private readonly fixed: AllowedOrigins;

  constructor(private readonly options: ExchangeClientOptions) {
    this.fixed = new AllowedOrigins([options.baseUrl, options.tokenUrl]);
  }

  /** The request token of a connection request (and, for the password grant, the request's userId) → the traveller's tokens. */
  async exchange({ requestToken, userId }: { requestToken: string; userId: string | null }): Promise<UserTokens> {
    if (this.options.form === 'legacy') {
      const url = this.legacyUrl('getaccesstoken.ashx', { code: requestToken });
      return this.tokens('exchange', await this.call('GET', url), 'legacy');
    }
    if (userId === null) {
      throw new ExchangeError('token_refused', 'the password grant needs the request\'s userId, and Concur gave none for this request');
    }
    const body = { grant_type: 'password', username: userId, password: requestToken, credtype: 'authtoken' };
    return this.tokens('exchange', await this.form(this.options.tokenUrl, body), 'password');
  }

  /** New tokens for a connection; the refresh token may be rotated (store what comes back). */
  async refresh(held: HeldTokens): Promise<UserTokens> {
    if (held.form === 'legacy') {
      const url = this.legacyUrl('getaccesstoken.ashx', { refresh_token: held.refreshToken });
      return this.tokens('refresh', await this.call('GET', url), 'legacy', held.refreshToken);
    }
    const tokenUrl = new URL('/oauth2/v0/token', this.geolocation(held)).href;
    return this.tokens('refresh', await this.form(tokenUrl, { grant_type: 'refresh_token', refresh_token: held.refreshToken }, held), 'password');
  }

  /** Revokes the traveller's tokens at Concur (where its API allows). Resolves when Concur took it, or had nothing to revoke. */
  async revoke(held: HeldTokens): Promise<void> {
    let res: HttpResponse;
    if (held.form === 'legacy') {
      const appAuthorization = this.options.appAuthorization;
      if (appAuthorization === undefined) throw new ExchangeError('credentials_refused', 'revoking a legacy token needs the relay\'s own Concur token');
      const url = new URL('/net2/oauth2/revoketoken.ashx', this.options.baseUrl);
      url.searchParams.set('token', held.accessToken);
      res = await this.send('POST', url.href, { authorization: await appAuthorization() }, undefined, this.fixed);
    } else {
      const url = new URL('/app-mgmt/v0/connections', this.geolocation(held)).href;
      res = await this.send('DELETE', url, { authorization: `Bearer ${held.accessToken}` }, undefined, this.allowedFor(held));
    }
    if (res.status >= 200 && res.status < 300) return;
    // Already revoked, or expired: nothing is left at Concur to take away.
    if (res.status === 400 || res.status === 401 || res.status === 403 || res.status === 404) return;
    throw this.transientOr(res, 'revoke');
  }

  private legacyUrl(page: string, params: Record<string, string>): string {
    const url = new URL(`/net2/oauth2/${page}`, this.options.baseUrl);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    url.searchParams.set('client_id', this.options.clientId);
    url.searchParams.set('client_secret', this.options.clientSecret);
    return url.href;
  }

  private call(method: 'GET', url: string): Promise<HttpResponse> {
    return this.send(method, url, { accept: 'application/json, application/xml;q=0.9' }, undefined, this.fixed);
  }

  private form(url: string, fields: Record<string, string>, held?: HeldTokens): Promise<HttpResponse> {
    const body = new URLSearchParams({ ...fields, client_id: this.options.clientId, client_secret: this.options.clientSecret }).toString();
    const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    return this.send('POST', url, headers, body, held === undefined ? this.fixed : this.allowedFor(held));
  }

  private async send(method: 'GET' | 'POST' | 'DELETE', url: string, headers: Record<string, string>, body: string | undefined, allowed: AllowedOrigins): Promise<HttpResponse> {
    try {
      return await send({
        method,
        url,
        headers,
        body,
        timeoutMs: this.options.timeoutMs ?? 30_000,
        maxBytes: MAX_ANSWER_BYTES,
        allowedOrigins: allowed,
        observe: this.options.observe,
      });
    } catch (error) {
      if (error instanceof ConcurError && error.transient) throw new ExchangeError('unavailable', error.message, { retryAfterSeconds: error.retryAfterSeconds });
      throw new ExchangeError('bad_response', error instanceof Error ? error.message : String(error));
    }
  }

  private tokens(what: 'exchange' | 'refresh', res: HttpResponse, form: ExchangeForm, heldRefreshToken?: string): UserTokens {
    if (res.status === 429 || res.status >= 500) throw this.transientOr(res, what);
    const now = (this.options.now ?? Date.now)();
    const answer: TokenAnswer =
      form === 'legacy'
        ? res.status === 200
          ? readLegacyAnswer(res.body, res.headers.get('content-type'), heldRefreshToken)
          : { kind: 'refused', refusal: legacyRefusal(res) }
        : readOAuthAnswer(res.status, res.body, now);
    if (answer.kind === 'unreadable') throw new ExchangeError('bad_response', `${what}: ${answer.why}`, { status: res.status });
    if (answer.kind === 'refused') throw refusedError(what, form, res.status, answer.refusal);
    const where = new URL(answer.tokens.instanceUrl);
    if (!this.trusts(where)) {
      throw new ExchangeError('bad_response', `${what}: Concur named ${whereTo(where)} as the traveller's instance; the relay only trusts Concur's own hosts`);
    }
    return answer.tokens;
  }

  private transientOr(res: HttpResponse, what: string): ExchangeError {
    if (res.status === 429 || res.status >= 500) {
      return new ExchangeError('unavailable', `${what}: Concur answered ${res.status}`, {
        status: res.status,
        retryAfterSeconds: parseRetryAfter(res.headers.get('retry-after')),
      });
    }
    return new ExchangeError('bad_response', `${what}: Concur answered ${res.status}`, { status: res.status });
  }

  /**
   * A host Concur names (geolocation, Instance_Url) receives the client secret and refresh token
   * later: only Concur's own https hosts qualify, or the configured ones (the sandbox, tests).
   */
  private trusts(url: URL): boolean {
    if (this.fixed.allows(url)) return true;
    return url.protocol === 'https:' && url.username === '' && /(^|\.)concursolutions\.com$/.test(url.hostname);
  }

  private geolocation(held: HeldTokens): string {
    if (held.geolocation === null) throw new ExchangeError('bad_response', 'an OAuth 2.0 connection without its geolocation cannot be refreshed');
    return held.geolocation;
  }

  private allowedFor(held: HeldTokens): AllowedOrigins {
    const geolocation = new URL(this.geolocation(held));
    if (!this.trusts(geolocation)) throw new ExchangeError('bad_response', `the stored geolocation ${whereTo(geolocation)} is not a Concur host`);
    const allowed = new AllowedOrigins([this.options.baseUrl, this.options.tokenUrl]);
    allowed.add(geolocation);
    return allowed;
  }
}

/** Legacy errors: 401 for the client id or secret; 400 for the request token (which does not say why). */
function legacyRefusal(res: HttpResponse): ConcurRefusal {
  const said = readLegacyAnswer(res.body, res.headers.get('content-type'));
  const message = said.kind === 'refused' ? said.refusal.message : `HTTP ${res.status}`;
  return { message, code: null };
}

function refusedError(what: string, form: ExchangeForm, status: number, refusal: ConcurRefusal): ExchangeError {
  const details = { status, concurCode: refusal.code };
  const said = `${what}: Concur refused it (${status}${refusal.code === null ? '' : `, code ${refusal.code}`}: ${refusal.message})`;
  if (form === 'legacy') {
    // A 200 with an <Error> inside is Concur's legacy way of saying 400; 401 is the app's credentials.
    return new ExchangeError(status === 401 ? 'credentials_refused' : 'token_refused', said, details);
  }
  if (refusal.code === CREDENTIALS_CODE || status === 401) return new ExchangeError('credentials_refused', said, details);
  if (refusal.code !== null && TOKEN_CODES.has(refusal.code)) return new ExchangeError('token_refused', said, details);
  // invalid_grant without a code we know is still about the grant the relay sent.
  return new ExchangeError(refusal.message.startsWith('invalid_grant') ? 'token_refused' : 'bad_response', said, details);
}
