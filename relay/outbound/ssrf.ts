import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * The guard against server-side request forgery, for every URL a partner gives the relay to call
 * (webhook subscribers, the member directory): such a URL must not make the relay talk to
 * itself or to its private network (a cloud metadata service at 169.254.169.254, an admin port on
 * localhost, a database on 10.x). Like Svix, the check is made on the addresses a host name
 * resolves to, not on the URL text, and a literal IP is checked as it is:
 *
 * - when a webhook is created or its URL changed (a clear 400 for the API client), and
 * - before each delivery, inside the connection's own DNS lookup (`guardedLookup`), so that the
 *   address checked is the address connected to: a name that resolves to a public address at
 *   creation and to 127.0.0.1 later (DNS rebinding) is refused at delivery time.
 *
 * Refused: loopback, private (RFC 1918), link-local, carrier-grade NAT (100.64/10), unique-local
 * (fc00::/7), unspecified, multicast, broadcast and reserved, documentation and benchmarking
 * ranges, every IPv6 address outside global unicast (2000::/3), and IPv4 addresses embedded in
 * IPv6 (see `embeddedIpv4` for each form) that fall in any of those. A name with several
 * addresses is refused when any of them is. `RELAY_WEBHOOK_ALLOW_PRIVATE=true` turns the whole
 * check off (tests, receivers on an internal network).
 */

export type AddressKind =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'carrier-grade NAT'
  | 'unique-local'
  | 'multicast'
  | 'reserved'
  | 'documentation';

const RANGES: ReadonlyArray<[AddressKind, string, number, 'ipv4' | 'ipv6']> = [
  ['unspecified', '0.0.0.0', 8, 'ipv4'],
  ['private', '10.0.0.0', 8, 'ipv4'],
  ['carrier-grade NAT', '100.64.0.0', 10, 'ipv4'],
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  ['link-local', '169.254.0.0', 16, 'ipv4'],
  ['private', '172.16.0.0', 12, 'ipv4'],
  ['reserved', '192.0.0.0', 24, 'ipv4'],
  ['documentation', '192.0.2.0', 24, 'ipv4'],
  ['reserved', '192.88.99.0', 24, 'ipv4'],
  ['private', '192.168.0.0', 16, 'ipv4'],
  ['reserved', '198.18.0.0', 15, 'ipv4'],
  ['documentation', '198.51.100.0', 24, 'ipv4'],
  ['documentation', '203.0.113.0', 24, 'ipv4'],
  ['multicast', '224.0.0.0', 4, 'ipv4'],
  ['reserved', '240.0.0.0', 4, 'ipv4'],
  ['unspecified', '::', 128, 'ipv6'],
  ['loopback', '::1', 128, 'ipv6'],
  ['reserved', '2001::', 23, 'ipv6'],
  ['documentation', '2001:db8::', 32, 'ipv6'],
  ['reserved', '2002::', 16, 'ipv6'],
  ['unique-local', 'fc00::', 7, 'ipv6'],
  ['link-local', 'fe80::', 10, 'ipv6'],
  ['private', 'fec0::', 10, 'ipv6'],
  ['multicast', 'ff00::', 8, 'ipv6'],
];

const LISTS: ReadonlyArray<[AddressKind, BlockList]> = (() => {
  const byKind = new Map<AddressKind, BlockList>();
  for (const [kind, network, prefix, family] of RANGES) {
    let list = byKind.get(kind);
    if (list === undefined) {
      list = new BlockList();
      byKind.set(kind, list);
    }
    list.addSubnet(network, prefix, family);
  }
  return [...byKind];
})();

/** Global unicast, the only IPv6 space IANA has handed out for the Internet. */
const GLOBAL_UNICAST = (() => {
  const list = new BlockList();
  list.addSubnet('2000::', 3, 'ipv6');
  return list;
})();

/**
 * The eight 16-bit groups of an IPv6 address that `isIP` accepted: any spelling (compressed,
 * zero-padded, upper case, a dotted IPv4 tail) gives the same groups, so the forms below are
 * recognised by value, never by how the text looks.
 */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const front = parse(head);
  if (tail === undefined) return front;
  const back = parse(tail);
  return [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
}

function ipv4Of(high: number, low: number): string {
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/**
 * How an IPv6 address that carries an IPv4 address is judged:
 * - `embedded`: by the IPv4 address alone. IPv4-mapped (::ffff:0:0/96) is the IPv4 host itself
 *   on a dual-stack socket, and NAT64's well-known prefix (64:ff9b::/96, RFC 6052, which may not
 *   carry non-global addresses) is how IPv6-only networks reach public IPv4 hosts: both are
 *   legitimate for a public address. ISATAP (RFC 5214: interface id 0:5efe or 200:5efe, with the
 *   u/g bits either way, under any /64) too; its prefix is then checked like any IPv6 address.
 * - `range`: the whole range is refused. IPv4-translated (::ffff:0:0:0/96, SIIT), IPv4-compatible
 *   (::/96, deprecated), local-use NAT64 (64:ff9b:1::/48, whose layout the operator picks), 6to4
 *   (2002::/16, bits 16–47; deprecated) and Teredo (2001::/32; the client address is the last 32
 *   bits inverted) are tunnels or translators no webhook receiver needs; the embedded address,
 *   when it is not public, only names the kind in the refusal.
 */
type Embedded = { ipv4: string | undefined; judged: 'embedded' | 'embedded, then the prefix' | 'range' };

function embeddedIpv4(groups: readonly number[]): Embedded | undefined {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  const zero = (...values: number[]) => values.every((value) => value === 0);
  const last32 = ipv4Of(g6, g7);
  if (zero(g0, g1, g2, g3, g4) && g5 === 0xffff) return { ipv4: last32, judged: 'embedded' };
  if (zero(g0, g1, g2, g3) && g4 === 0xffff && g5 === 0) return { ipv4: last32, judged: 'range' };
  if (zero(g0, g1, g2, g3, g4, g5)) return { ipv4: last32, judged: 'range' };
  if (g0 === 0x64 && g1 === 0xff9b && zero(g2, g3, g4, g5)) return { ipv4: last32, judged: 'embedded' };
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return { ipv4: undefined, judged: 'range' };
  if (g0 === 0x2002) return { ipv4: ipv4Of(g1, g2), judged: 'range' };
  if (g0 === 0x2001 && g1 === 0) return { ipv4: ipv4Of(g6 ^ 0xffff, g7 ^ 0xffff), judged: 'range' };
  if ((g4 & 0xfcff) === 0 && g5 === 0x5efe) return { ipv4: last32, judged: 'embedded, then the prefix' };
  return undefined;
}

function classifyIpv4(address: string): AddressKind | null {
  for (const [kind, list] of LISTS) {
    if (list.check(address, 'ipv4')) return kind;
  }
  return null;
}

function classifyIpv6(address: string): AddressKind | null {
  const groups = ipv6Groups(address);
  const isUnspecified = groups.every((group) => group === 0);
  const isLoopback = groups.slice(0, 7).every((group) => group === 0) && groups[7] === 1;
  if (isUnspecified) return 'unspecified';
  if (isLoopback) return 'loopback';
  const embedded = embeddedIpv4(groups);
  if (embedded !== undefined) {
    const kind = embedded.ipv4 === undefined ? null : classifyIpv4(embedded.ipv4);
    if (embedded.judged === 'range') return kind ?? 'reserved';
    if (kind !== null) return kind;
    if (embedded.judged === 'embedded') return null;
  }
  for (const [kind, list] of LISTS) {
    if (list.check(address, 'ipv6')) return kind;
  }
  return GLOBAL_UNICAST.check(address, 'ipv6') ? null : 'reserved';
}

/** What kind of non-public address `address` is, or null for a public one (or not an IP at all). */
export function classifyAddress(address: string): AddressKind | null {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return classifyIpv4(bare);
  if (family === 6) return classifyIpv6(bare);
  return null;
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to all its addresses (default: the system resolver, as connections use). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });

/** Why a URL was refused; the message is written for the API client and for the delivery log. */
export class UrlRefusedError extends Error {
  override readonly name = 'UrlRefusedError';
  constructor(
    message: string,
    readonly reason: 'scheme' | 'credentials' | 'private_address' | 'unresolvable',
  ) {
    super(message);
  }
}

function refusal(host: string, address: string, kind: AddressKind): UrlRefusedError {
  const where = host === address ? address : `${host} resolves to ${address}, which`;
  return new UrlRefusedError(
    `${where} is a ${kind} address; webhooks only go to public addresses unless RELAY_WEBHOOK_ALLOW_PRIVATE=true`,
    'private_address',
  );
}

/** Throws UrlRefusedError when one of `addresses` of `host` is not public. */
export function checkAddresses(host: string, addresses: readonly ResolvedAddress[]): void {
  for (const { address } of addresses) {
    const kind = classifyAddress(address);
    if (kind !== null) throw refusal(host, address, kind);
  }
}

/** The host of a URL without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/**
 * Checks a subscriber URL: http or https, no user name or password, and (unless `allowPrivate`)
 * a host whose every address is public. Throws UrlRefusedError with a message for the client.
 */
export async function checkWebhookUrl(
  raw: string,
  options: { allowPrivate: boolean; resolve?: Resolver },
): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UrlRefusedError('must be an http(s) URL, e.g. https://partner.example/hooks/concur', 'scheme');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UrlRefusedError('must be an http(s) URL, e.g. https://partner.example/hooks/concur', 'scheme');
  }
  if (url.username !== '' || url.password !== '') {
    throw new UrlRefusedError(
      'must not contain a user name or password (the URL is shown by the API); the signature authenticates the relay',
      'credentials',
    );
  }
  if (options.allowPrivate) return url;
  const host = hostOf(url);
  if (isIP(host) !== 0) {
    checkAddresses(host, [{ address: host, family: isIP(host) }]);
    return url;
  }
  let addresses: ResolvedAddress[];
  try {
    addresses = await (options.resolve ?? systemResolver)(host);
  } catch {
    throw new UrlRefusedError(`the host name ${host} could not be resolved; check the URL`, 'unresolvable');
  }
  if (addresses.length === 0) {
    throw new UrlRefusedError(`the host name ${host} could not be resolved; check the URL`, 'unresolvable');
  }
  checkAddresses(host, addresses);
  return url;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | ResolvedAddress[], family?: number) => void;

/**
 * A `lookup` for http.request / net.connect that refuses non-public addresses: the connection is
 * made only to addresses this function returned, so the check cannot be raced by DNS.
 */
export function guardedLookup(resolve: Resolver = systemResolver) {
  return (hostname: string, options: { all?: boolean; family?: number | string } | number, callback: LookupCallback): void => {
    const all = typeof options === 'object' && options.all === true;
    resolve(hostname).then(
      (addresses) => {
        try {
          if (addresses.length === 0) throw new UrlRefusedError(`the host name ${hostname} could not be resolved`, 'unresolvable');
          checkAddresses(hostname, addresses);
        } catch (error) {
          callback(error as NodeJS.ErrnoException, all ? [] : '', undefined);
          return;
        }
        if (all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, all ? [] : '', undefined),
    );
  };
}
