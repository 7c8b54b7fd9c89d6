/**
 * Where a Concur credential may go. Every request to Concur carries one (the access token, or the
 * client secret and refresh token of a token grant), and a hostile or broken answer must never be
 * able to send it elsewhere: a NextPage on another host, a path that re-parses as a host
 * (`//evil`, `/\evil`, `/.//evil`), a user-info trick (`http://concur@evil`). send() checks the
 * final URL of every request against the request's AllowedOrigins right before it opens a socket,
 * so no caller, today's or a later one, can skip the check.
 *
 * An origin is scheme, host and port, as the URL standard computes it: `https://concur` and
 * `http://concur` differ (no downgrade), and `https://concur:443` is `https://concur`.
 *
 * Today a client allows the configured instance (CONCUR_BASE_URL) and a token grant its token URL.
 * API 3.2 calls the token's `geolocation`: `add()` it once a token response from the configured
 * token URL names it.
 */
export class AllowedOrigins {
  private readonly origins = new Set<string>();

  constructor(urls: Iterable<string | URL>) {
    for (const url of urls) this.add(url);
  }

  /** Throws TypeError for a URL that does not parse or is not http(s): that is a configuration error. */
  add(url: string | URL): void {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    if (!isHttp(parsed)) throw new TypeError(`an allowed Concur origin must be an http(s) URL, not ${parsed.protocol}`);
    this.origins.add(parsed.origin);
  }

  /** Concur's URLs never carry a user name or password, so one that does is refused too. */
  allows(url: URL): boolean {
    return isHttp(url) && url.username === '' && url.password === '' && this.origins.has(url.origin);
  }

  /** For messages: the allowed origins, e.g. `https://www.concursolutions.com`. */
  toString(): string {
    return [...this.origins].join(', ');
  }
}

/** Where a URL points, for a message: its origin (never its path or query, which may be long or carry secrets). */
export function whereTo(url: URL): string {
  if (!isHttp(url)) return `a ${url.protocol.replace(/:$/, '').slice(0, 20)} URL`;
  const origin = url.origin.length > 200 ? `${url.origin.slice(0, 200)}…` : url.origin;
  return url.username !== '' || url.password !== '' ? `${origin} (with a user name in the URL)` : origin;
}

function isHttp(url: URL): boolean {
  return url.protocol === 'http:' || url.protocol === 'https:';
}
