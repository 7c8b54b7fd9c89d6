/**
 * Browser origin patterns (RELAY_CORS_ORIGINS): config.ts normalises each configured entry with
 * `originPattern`; the API's CORS middleware matches a request's `Origin` with `isOriginAllowed`.
 */

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

export { originPattern };
