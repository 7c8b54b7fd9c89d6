import { randomBytes } from 'node:crypto';
import { startSandbox } from './server.js';

/**
 * `npm run sandbox`: a standalone Concur simulator in demo mode (a new pending request now and then).
 * Environment: SANDBOX_PORT (8788), SANDBOX_HOST (127.0.0.1), SANDBOX_DEMO_EVERY_SECONDS (30; 0 = off),
 * SANDBOX_SEED (how many requests to start with, 12), SANDBOX_RANDOM (PRNG seed),
 * SANDBOX_ACCESS_TOKEN (the static token; generated when unset), SANDBOX_DIRECTORY_SECRET (the demo
 * member directory's `whsec_` secret; generated when unset).
 */

function intFromEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`${name} must be a whole number from ${min} to ${max} (e.g. ${name}=${fallback}); it is "${raw}".`);
    process.exit(2);
  }
  return value;
}

const port = intFromEnv('SANDBOX_PORT', 8788, 0, 65535);
const everySeconds = intFromEnv('SANDBOX_DEMO_EVERY_SECONDS', 30, 0, 86_400);
const seed = intFromEnv('SANDBOX_SEED', 12, 0, 1000);
const random = process.env.SANDBOX_RANDOM ? intFromEnv('SANDBOX_RANDOM', 1, 0, 2 ** 31) : undefined;

const directorySecret = process.env.SANDBOX_DIRECTORY_SECRET || `whsec_${randomBytes(32).toString('base64')}`;

const sandbox = await startSandbox({
  directory: { secret: directorySecret },
  port,
  hostname: process.env.SANDBOX_HOST || '127.0.0.1',
  seed,
  random,
  staticAccessToken: process.env.SANDBOX_ACCESS_TOKEN || undefined,
  demo: everySeconds > 0 ? { everyMs: everySeconds * 1000 } : undefined,
});

console.log(`Concur sandbox listening on ${sandbox.url}
  connection requests  ${sandbox.url}/api/v3.0/common/connectionrequests
  static access token  ${sandbox.accessToken}   (Authorization: OAuth <token> or Bearer <token>)
  OAuth token URL      ${sandbox.url}/oauth2/v0/token
  client id            ${sandbox.clientId}
  client secret        ${sandbox.clientSecret}
  refresh token        ${sandbox.refreshToken}   (rotates on every refresh)
  travellers' tokens   legacy ${sandbox.url}/net2/oauth2/getaccesstoken.ashx?code=…, or the password grant (credtype=authtoken)
  member directory     ${sandbox.url}/_sandbox/directory   (RELAY_MATCH_URL; RELAY_MATCH_SECRET=${directorySecret})
  control API          ${sandbox.url}/_sandbox/  (requests, users, calls, faults, quirks, clock, reset)
  ${sandbox.state.size} requests seeded (PRNG seed ${sandbox.randomSeed})${everySeconds > 0 ? `; a new one every ${everySeconds} s` : ''}
Press Ctrl+C to stop.`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the sandbox…`);
    sandbox.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('The sandbox did not close cleanly:', err);
        process.exit(1);
      },
    );
  });
}
