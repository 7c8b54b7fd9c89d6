import { describe, expect, it } from 'vitest';
import {
  checkWebhookUrl,
  classifyAddress,
  guardedLookup,
  UrlRefusedError,
  type Resolver,
} from '../../../relay/outbound/ssrf.js';

const resolver =
  (table: Record<string, string[]>): Resolver =>
  async (host) => {
    const addresses = table[host];
    if (addresses === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.1.2', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.254', 'carrier-grade NAT'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['192.0.2.10', 'documentation'],
    ['2001:db8::1', 'documentation'],
    // IPv4 inside IPv6: mapped (dotted and hex), NAT64.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['64:ff9b::192.168.0.1', 'private'],
    ['[::1]', 'loopback'],
  ])('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8', '2001:4860:4860::8888'])(
    '%s is public',
    (address) => {
      expect(classifyAddress(address)).toBeNull();
    },
  );
});

/**
 * Every IPv6 form that carries an IPv4 address, in the spellings a client or a resolver may use
 * (dotted or hex tail, compressed or full, upper case, zero-padded). What each form is judged by:
 * - IPv4-mapped ::ffff:0:0/96 and NAT64 64:ff9b::/96: the embedded address only (both reach a
 *   real IPv4 host, so a public one is allowed);
 * - IPv4-translated ::ffff:0:0:0/96, IPv4-compatible ::/96, local NAT64 64:ff9b:1::/48, 6to4
 *   2002::/16 and Teredo 2001::/32: the whole range is refused; the kind named is the embedded
 *   address's when that is not public;
 * - ISATAP (interface id 0:5efe or 200:5efe, u/g bits either way, under any /64): the embedded
 *   address, and the prefix as any IPv6 address.
 */
describe('classifyAddress: IPv4 embedded in IPv6', () => {
  it.each([
    // IPv4-mapped
    ['::ffff:127.0.0.1', 'loopback'],
    ['::FFFF:127.0.0.1', 'loopback'],
    ['0:0:0:0:0:ffff:127.0.0.1', 'loopback'],
    ['0000:0000:0000:0000:0000:ffff:7f00:0001', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:127.1.2.3', 'loopback'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::ffff:c0a8:101', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:100.64.0.1', 'carrier-grade NAT'],
    // IPv4-translated
    ['::ffff:0:127.0.0.1', 'loopback'],
    ['::ffff:0:7f00:1', 'loopback'],
    ['0:0:0:0:ffff:0:127.0.0.1', 'loopback'],
    ['::FFFF:0:7F00:0001', 'loopback'],
    ['::ffff:0:10.0.0.1', 'private'],
    ['::ffff:0:a9fe:a9fe', 'link-local'],
    ['::ffff:0:8.8.8.8', 'reserved'],
    // IPv4-compatible
    ['::127.0.0.1', 'loopback'],
    ['::7f00:1', 'loopback'],
    ['0:0:0:0:0:0:127.0.0.1', 'loopback'],
    ['::10.0.0.1', 'private'],
    ['::8.8.8.8', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    // NAT64, well-known prefix
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:FF9B:0:0:0:0:7f00:1', 'loopback'],
    ['0064:ff9b:0000:0000:0000:0000:7f00:0001', 'loopback'],
    ['64:ff9b::169.254.169.254', 'link-local'],
    ['64:ff9b::a00:1', 'private'],
    // NAT64, local-use prefix
    ['64:ff9b:1::127.0.0.1', 'reserved'],
    ['64:ff9b:1:2::8.8.8.8', 'reserved'],
    // 6to4: the IPv4 address is bits 16–47
    ['2002:7f00:1::', 'loopback'],
    ['2002:7f00:0001:0:0:0:0:1', 'loopback'],
    ['2002:7F00:1:ffff::1', 'loopback'],
    ['2002:a00:1::1', 'private'],
    ['2002:a9fe:a9fe::', 'link-local'],
    ['2002:c000:201::', 'documentation'],
    ['2002:808:808::1', 'reserved'],
    // Teredo: the client address is the last 32 bits, inverted
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback'],
    ['2001::80ff:fffe', 'loopback'],
    ['2001:0:4136:e378:8000:63bf:128.255.255.254', 'loopback'],
    ['2001::f5ff:fffe', 'private'],
    ['2001:0:4136:e378:8000:63bf:f7f7:f7f7', 'reserved'],
    // ISATAP under a public /64
    ['2606:4700::5efe:127.0.0.1', 'loopback'],
    ['2606:4700:1:2:0:5efe:7f00:1', 'loopback'],
    ['2606:4700:1:2:200:5efe:10.1.2.3', 'private'],
    ['2606:4700:1:2:300:5EFE:a9fe:a9fe', 'link-local'],
    ['2606:4700:1:2:100:5efe:192.168.1.1', 'private'],
    ['fe80::5efe:8.8.8.8', 'link-local'],
    // Outside global unicast (2000::/3) but in none of the forms above
    ['::ffff:1:7f00:1', 'reserved'],
    ['100::1', 'reserved'],
    ['4000::1', 'reserved'],
  ])('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it.each([
    '::ffff:8.8.8.8',
    '::ffff:808:808',
    '64:ff9b::8.8.8.8',
    '64:ff9b::5db8:d822',
    '2606:4700:1:2:200:5efe:8.8.8.8',
    '2606:4700::5eff:7f00:1',
    '2a00:1450:4001:80b::200e',
  ])('%s is public', (address) => {
    expect(classifyAddress(address)).toBeNull();
  });

  it.each([
    'http://[::ffff:0:127.0.0.1]:8080/hook',
    'http://[::ffff:0:7f00:1]/hook',
    'http://[0:0:0:0:ffff:0:127.0.0.1]/hook',
    'http://[::127.0.0.1]/hook',
    'http://[64:ff9b::127.0.0.1]/hook',
    'http://[64:ff9b:1::127.0.0.1]/hook',
    'http://[2002:7f00:1::]/hook',
    'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook',
    'http://[2606:4700::5efe:127.0.0.1]/hook',
    'http://[::ffff:127.0.0.1]/hook',
  ])('refuses %s as a webhook URL (after the URL parser rewrites it)', async (url) => {
    await expect(checkWebhookUrl(url, { allowPrivate: false })).rejects.toBeInstanceOf(UrlRefusedError);
  });
});

describe('checkWebhookUrl', () => {
  const resolve = resolver({
    'hooks.partner.example': ['93.184.216.34'],
    'internal.partner.example': ['10.20.30.40'],
    'mixed.partner.example': ['93.184.216.34', '127.0.0.1'],
    'v6.partner.example': ['fd00::5'],
  });
  const refused = async (url: string, allowPrivate = false) => {
    try {
      await checkWebhookUrl(url, { allowPrivate, resolve });
    } catch (error) {
      expect(error).toBeInstanceOf(UrlRefusedError);
      return (error as Error).message;
    }
    throw new Error(`${url} was accepted`);
  };

  it('accepts a public host, over https or http', async () => {
    await expect(checkWebhookUrl('https://hooks.partner.example/x', { allowPrivate: false, resolve })).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookUrl('http://hooks.partner.example:8080/x', { allowPrivate: false, resolve })).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookUrl('https://8.8.8.8/x', { allowPrivate: false, resolve })).resolves.toBeInstanceOf(URL);
  });

  it('refuses literal private addresses, host names that resolve to one, and names with any private address', async () => {
    expect(await refused('http://127.0.0.1:8080/hook')).toMatch(/127\.0\.0\.1 is a loopback address.*RELAY_WEBHOOK_ALLOW_PRIVATE/);
    expect(await refused('http://[::1]/hook')).toMatch(/::1 is a loopback address/);
    expect(await refused('http://169.254.169.254/latest/meta-data')).toMatch(/link-local/);
    expect(await refused('https://internal.partner.example/hook')).toMatch(
      /internal\.partner\.example resolves to 10\.20\.30\.40, which is a private address/,
    );
    expect(await refused('https://mixed.partner.example/hook')).toMatch(/resolves to 127\.0\.0\.1/);
    expect(await refused('https://v6.partner.example/hook')).toMatch(/unique-local/);
    expect(await refused('http://[::ffff:127.0.0.1]/hook')).toMatch(/loopback/);
  });

  it('refuses the real localhost through the system resolver', async () => {
    expect(await (async () => {
      try {
        await checkWebhookUrl('http://localhost:9/hook', { allowPrivate: false });
        return 'accepted';
      } catch (error) {
        return (error as Error).message;
      }
    })()).toMatch(/localhost resolves to (127\.0\.0\.1|::1), which is a loopback address/);
  });

  it('refuses other schemes, credentials and names that do not resolve', async () => {
    expect(await refused('ftp://hooks.partner.example/x')).toMatch(/http\(s\)/);
    expect(await refused('https://user:pass@hooks.partner.example/x')).toMatch(/user name or password/);
    expect(await refused('https://nowhere.partner.example/x')).toMatch(/could not be resolved/);
    // Scheme and credentials are checked even with private addresses allowed.
    expect(await refused('file:///etc/passwd', true)).toMatch(/http\(s\)/);
  });

  it('allows everything http(s) with the setting on, without resolving', async () => {
    const never: Resolver = async () => {
      throw new Error('must not resolve');
    };
    await expect(checkWebhookUrl('http://127.0.0.1:9/x', { allowPrivate: true, resolve: never })).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookUrl('http://internal.partner.example/x', { allowPrivate: true, resolve: never })).resolves.toBeInstanceOf(URL);
  });
});

describe('guardedLookup (the check at connection time)', () => {
  const lookup = guardedLookup(resolver({ 'ok.example': ['93.184.216.34', '2606:4700::1'], 'bad.example': ['93.184.216.34', '10.0.0.1'] }));
  const call = (host: string, options: { all?: boolean }) =>
    new Promise<{ error: Error | null; address: unknown; family?: number }>((resolve) =>
      lookup(host, options, (error, address, family) => resolve({ error, address, family })),
    );

  it('passes public addresses on, in the form asked for', async () => {
    expect(await call('ok.example', { all: true })).toMatchObject({ error: null, address: [{ address: '93.184.216.34', family: 4 }, { address: '2606:4700::1', family: 6 }] });
    expect(await call('ok.example', {})).toMatchObject({ error: null, address: '93.184.216.34', family: 4 });
  });

  it('fails the connection when any address is not public', async () => {
    const { error } = await call('bad.example', { all: true });
    expect(error).toBeInstanceOf(UrlRefusedError);
    expect(error?.message).toMatch(/bad\.example resolves to 10\.0\.0\.1, which is a private address/);
  });
});
