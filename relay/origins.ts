/**
 * Browser origin patterns (RELAY_CORS_ORIGINS): config.ts normalises each configured entry with
 * `originPattern`; the API's CORS middleware matches a request's `Origin` with `isOriginAllowed`.
 */

/** `scheme://host[:port]`; the host may be `*` or start with `*.`, the port may be `*`. */
const ORIGIN_PATTERN =
  /^([a-z][a-z0-9+.-]*):\/\/(\*|(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::(\d{1,5}|\*))?$/;

/** Normalises one RELAY_CORS_ORIGINS entry, or returns undefined when it is not an origin pattern. */
function originPattern(entry: string): string | undefined {
  if (entry === '*') return '*';
  const candidate = entry.toLowerCase().replace(/\/$/, '');
  const match = ORIGIN_PATTERN.exec(candidate);
  if (match === null) return undefined;
  const port = match[3];
  if (port !== undefined && port !== '*' && Number(port) > 65535) return undefined;
  return candidate;
}

/**
 * Whether a browser `Origin` header value is allowed by the configured patterns
 * (`*` anywhere in the host or port stands for "any"; `*` alone allows every origin).
 */
export function isOriginAllowed(origin: string, patterns: readonly string[]): boolean {
  const value = origin.trim().toLowerCase();
  if (value === '' || value === 'null') return false;
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
