import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startSandbox } from '../../relay/sandbox/server.js';
import { serveParent } from './lib.js';

/**
 * The Concur sandbox in a process of its own, seeded with `argv[2]` pending requests (fixed PRNG
 * seed, so every run serves the same bytes), with `argv[3]` ids (`legacy`, the default, or `guid`
 * as Concur 3.2 has them). It plays Concur for the ingest and footprint
 * benchmarks without sharing a CPU core with the relay being measured.
 *
 * `{cmd: 'floor', bodies}` also starts a bare node:http server in this process that answers
 * `GET /<n>` with the n-th body as it is: the fastest any poll over loopback HTTP could fetch
 * the same pages on this machine. `GET /<n>?wait=<ms>` answers it after a timer of `ms`, as the
 * sandbox's latency fault waits: what that wait costs here with nothing else to do.
 *
 * `{cmd: 'latency', ms}` adds `ms` to every list call from now on (the sandbox's latency fault); 0 clears the faults.
 *
 * `{cmd: 'cpu'}` answers this process's CPU time so far, in microseconds (user + system).
 *
 * `{cmd: 'members'}` starts a member directory that answers `member` to every question (autoconnect.ts).
 *
 * `{cmd: 'fresh', count}` adds `count` pending requests with fresh request tokens and answers
 * their ids and tokens (the exchange benchmark's bare baseline spends them itself).
 */

const count = Number(process.argv[2] ?? '0');
const ids = process.argv[3] === 'guid' ? 'guid' : 'legacy';
// Requests stay Pending when listed (quirk processing: 'exchange'): every round walks the same one
// list, as the first did; by default a listed request turns Processing and the next walk of the
// pending list would find it empty.
const sandbox = await startSandbox({ seed: count, random: 20_240_501, quirks: { processing: 'exchange' }, ids });

serveParent(async (message) => {
  if (message.cmd === 'floor') {
    const bodies = (message.bodies as string[]).map((body) => Buffer.from(body, 'utf8'));
    const server = createServer((req, res) => {
      const [path = '', query = ''] = (req.url ?? '').split('?');
      const body = bodies[Number(path.slice(1))];
      if (body === undefined) {
        res.writeHead(404).end();
        return;
      }
      const answer = () => res.writeHead(200, { 'content-type': 'application/xml; charset=utf-8', 'content-length': body.length }).end(body);
      const wait = Number(new URLSearchParams(query).get('wait') ?? '0');
      if (wait > 0) setTimeout(answer, wait);
      else answer();
    });
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
    return { url: `http://127.0.0.1:${port}` };
  }
  if (message.cmd === 'cpu') {
    const { user, system } = process.cpuUsage();
    return { micros: user + system };
  }
  if (message.cmd === 'latency') {
    const ms = Number(message.ms);
    if (ms > 0) sandbox.faults.add({ route: 'list', kind: 'latency', latencyMs: ms });
    else sandbox.faults.clear();
    return { faults: sandbox.faults.list().length };
  }
  if (message.cmd === 'members') {
    // A member directory that knows everybody (autoconnect.ts): beside the sandbox, off the relay's core.
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => {
        const id = (JSON.parse(body) as { data: { requestId: string } }).data.requestId;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: 'member', memberId: `M-${id}` }));
      });
    });
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
    return { url: `http://127.0.0.1:${port}/match` };
  }
  if (message.cmd === 'fresh') {
    const added = Array.from({ length: Number(message.count) }, () => sandbox.state.add());
    return { requests: added.map((r) => ({ id: r.id, requestToken: r.requestToken })) };
  }
  return { requests: sandbox.state.size };
});
process.send?.({
  ready: {
    url: sandbox.url,
    accessToken: sandbox.accessToken,
    clientId: sandbox.clientId,
    clientSecret: sandbox.clientSecret,
    requests: sandbox.state.size,
  },
});
