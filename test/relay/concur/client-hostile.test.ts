import { afterEach, describe, expect, it } from 'vitest';
import { staticToken } from '../../../relay/concur/auth.js';
import { bodyBudget } from '../../../relay/concur/bounds.js';
import { ConcurClient } from '../../../relay/concur/client.js';
import { fixtureServer } from '../../helpers/fixture-server.js';
import { BILLION_LAUGHS, concurFailure } from '../../helpers/concur.js';
import { hostileBody } from '../../helpers/hostile-concur.js';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

async function clientFor(
  handler: Parameters<typeof fixtureServer>[0],
  options: { timeoutMs?: number; maxBodyBytes?: number } = {},
) {
  const server = await fixtureServer(handler);
  close = server.close;
  return new ConcurClient({ baseUrl: server.url, auth: staticToken('t0ken'), ...options });
}

describe('Concur client against hostile answers', () => {
  it('refuses an entity-expansion document quickly and with modest memory', async () => {
    const client = await clientFor((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/xml' }).end(BILLION_LAUGHS);
    });
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    const err = await concurFailure(client.listPage());
    const grown = process.memoryUsage().heapUsed - before;
    expect(err.kind).toBe('bad_response');
    expect(err.message).toMatch(/DOCTYPE/);
    expect(grown).toBeLessThan(50 * 1024 * 1024);
  });

  it('stops reading an endless body at the limit', async () => {
    let written = 0;
    const client = await clientFor(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/xml' });
        const chunk = Buffer.alloc(64 * 1024, 'a');
        // Bounded so that a broken client cannot keep this test writing forever.
        const pump = () => {
          while (written < 256 * 1024 * 1024 && !res.destroyed) {
            written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.on('close', () => (written = Number.MAX_SAFE_INTEGER));
        pump();
      },
      { maxBodyBytes: 1024 * 1024 },
    );
    const err = await concurFailure(client.listPage());
    expect(err.kind).toBe('bad_response');
    expect(err.message).toMatch(/exceeds the limit of 1048576 bytes/);
  });

  it('refuses a body whose declared length is over the limit before reading it', async () => {
    const client = await clientFor(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/xml', 'content-length': String(10 * 1024 * 1024) });
        res.write('<ConnectionRequests>');
      },
      { maxBodyBytes: 1024 * 1024 },
    );
    const err = await concurFailure(client.listPage());
    expect(err.kind).toBe('bad_response');
    expect(err.message).toMatch(/10485760 bytes exceeds/);
  });

  it('reads no more of a page than the limit it asked for can take, and scans what it reads before parsing', async () => {
    const seen: string[] = [];
    const client = await clientFor((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/xml' }).end(hostileBody('long-field'));
    });
    const small = await concurFailure(client.listPage({ limit: 10 }));
    expect(small.kind).toBe('bad_response');
    expect(small.message).toMatch(new RegExp(`exceeds the limit of ${bodyBudget(10)} bytes$`));
    expect(bodyBudget(10)).toBeLessThan(2 * 1024 * 1024);
    // A limit whose page may be as large as the body: read, and refused by the scan.
    const large = await concurFailure(client.listPage({ limit: 1000 }));
    expect(large.message).toMatch(/^XML has more than 8192 characters without markup in <LastName>/);
    // One request (GET by id) gets the budget of one.
    const one = await concurFailure(client.get('HOSTILE-1'));
    expect(one.message).toMatch(new RegExp(`exceeds the limit of ${bodyBudget(1)} bytes$`));
    expect(seen).toHaveLength(3);
  });

  it('gives up on a Concur that sends headers and then stalls', async () => {
    const client = await clientFor(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.write('<ConnectionRequests><Items>');
      },
      { timeoutMs: 300 },
    );
    const err = await concurFailure(client.listPage());
    expect(err.kind).toBe('timeout');
    expect(err.transient).toBe(true);
  });

  it('does not follow a redirect with the token', async () => {
    let followed = false;
    const client = await clientFor((req, res) => {
      if (req.url?.startsWith('/elsewhere')) followed = true;
      res.writeHead(302, { location: '/elsewhere' }).end();
    });
    const err = await concurFailure(client.listPage());
    expect(err.kind).toBe('bad_response');
    expect(err.message).toMatch(/redirect/);
    expect(followed).toBe(false);
  });

  // This test used to expect the opposite: a NextPage on another origin was followed with its
  // path and query on the configured instance. Re-parsing that path is what let `//evil` through,
  // so a NextPage that names another origin is now refused.
  it('refuses a NextPage on another origin: bad_response with the reason, and nothing more is sent', async () => {
    const seen: string[] = [];
    const client = await clientFor((req, res) => {
      seen.push(req.url ?? '');
      const next = req.url?.includes('offset=')
        ? ''
        : '<NextPage>https://evil.example/api/v3.0/common/connectionrequests?offset=Zm9v&amp;limit=10</NextPage>';
      res.writeHead(200, { 'content-type': 'application/xml' }).end(`<ConnectionRequests><Items />${next}</ConnectionRequests>`);
    });
    const err = await concurFailure(client.listAll());
    expect(err.kind).toBe('bad_response');
    expect(err.message).toMatch(/^NextPage points to https:\/\/evil\.example, not to the configured Concur instance \(http:\/\/127\.0\.0\.1:\d+\)/);
    expect(err.message).not.toContain('t0ken');
    expect(seen).toEqual(['/api/v3.0/common/connectionrequests']);
  });
});
