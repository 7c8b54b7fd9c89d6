import { Writable } from 'node:stream';
import { afterEach, expect } from 'vitest';
import { ConnectionRequest } from '../../../shared/models.js';
import { parseConfig } from '../../../relay/base/config.js';
import { createLogger } from '../../../relay/base/log.js';
import { startRelay, type RunningRelay } from '../../../relay/boot/runtime.js';
import { startSandbox, type RunningSandbox } from '../../../relay/sandbox/server.js';
import { eventually, tempDb } from '../../helpers/relay-process.js';
import { TEST_VAULT_KEY } from '../../helpers/vault.js';
import { sandboxSecrets } from '../helpers.js';
import { DIRECTORY_SECRET, TestDirectory } from '../match/helpers.js';

/**
 * Auto-connect through the whole relay: a sandbox as Concur (with the partner's credentials, so
 * a CRSUC exchanges for real), a member directory on loopback (test/relay/match/helpers.ts), and
 * the relay started from its environment, as `npm run relay` starts it. After each test, every
 * body the directory got is checked for every token the sandbox and the relay hold.
 */

export const API_KEY = 'auto-connect-key-0123456789';

export interface Stack {
  sb: RunningSandbox;
  relay: RunningRelay;
  directory: TestDirectory;
  logs: string[];
}

let current: { sb?: RunningSandbox; relay?: RunningRelay; directory?: TestDirectory; logs: string[] } = { logs: [] };

/** Registers the checks and the clean-up after each test of the file. */
export function stackPerTest(): void {
  afterEach(async () => {
    const { sb, relay, directory, logs } = current;
    if (sb !== undefined && directory !== undefined) {
      const bodies = directory.calls.map((call) => call.body).join('\n');
      const held = relay === undefined ? [] : heldTokens(relay);
      for (const secret of [...sandboxSecrets(sb), ...held]) expect(bodies).not.toContain(secret);
      for (const secret of [...held, DIRECTORY_SECRET]) expect(logs.join('')).not.toContain(secret);
    }
    await relay?.close();
    await sb?.close();
    await directory?.close();
    current = { logs: [] };
  });
}

/** Every traveller's token the relay holds, opened. */
function heldTokens(relay: RunningRelay): string[] {
  return relay.store.connections.list({ limit: 200 }).items.flatMap((connection) => {
    const opened = relay.store.connections.tokens(connection.id);
    return opened === undefined ? [] : [opened.accessToken, opened.refreshToken ?? ''].filter((t) => t !== '');
  });
}

export interface StackOptions {
  ids: readonly string[];
  env?: Record<string, string>;
  /** The directory's secret, when it is to differ from the relay's (it then refuses every call). */
  directorySecret?: string;
  answer?: TestDirectory['answer'];
  matchRetryDelaysMs?: readonly number[];
}

/** Starts the three, with `ids` pending at the sandbox; resolves once the relay has polled them. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const sb = await startSandbox({ seed: false, random: 15 });
  current.sb = sb;
  for (const id of options.ids) sb.state.add({ id });
  const directory = await new TestDirectory(options.directorySecret).start();
  current.directory = directory;
  if (options.answer !== undefined) directory.answer = options.answer;
  const parsed = parseConfig({
    CONCUR_BASE_URL: sb.url,
    CONCUR_ACCESS_TOKEN: sb.accessToken,
    CONCUR_CLIENT_ID: sb.clientId,
    CONCUR_CLIENT_SECRET: sb.clientSecret,
    RELAY_API_KEYS: API_KEY,
    RELAY_VAULT_KEY: TEST_VAULT_KEY,
    RELAY_DB: tempDb(),
    RELAY_PORT: '0',
    POLL_INTERVAL_SECONDS: '1',
    RELAY_WEBHOOK_ALLOW_PRIVATE: 'true',
    RELAY_MATCH_URL: directory.url,
    RELAY_MATCH_SECRET: DIRECTORY_SECRET,
    ...options.env,
  });
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  const logs = current.logs;
  const destination = new Writable({ write: (chunk, _enc, done) => (logs.push(String(chunk)), done()) });
  const relay = await startRelay(parsed.config, {
    logger: createLogger({ destination, level: 'debug' }),
    outboxBaseDelayMs: 20,
    matchRetryDelaysMs: options.matchRetryDelaysMs ?? [150, 300],
  });
  current.relay = relay;
  await eventually(() => options.ids.every((id) => relay.store.requests.get(id) !== undefined));
  return { sb, relay, directory, logs };
}

export function api(relay: RunningRelay, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${relay.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...init.headers },
  });
}

export async function requestOf(relay: RunningRelay, id: string): Promise<ConnectionRequest> {
  return ConnectionRequest.parse(await (await api(relay, `/api/v1/requests/${encodeURIComponent(id)}`)).json());
}

/** `PUT status` for each PUT the sandbox got about `id`, in order. */
export const putsAt = (sb: RunningSandbox, id: string): string[] =>
  sb.calls
    .list()
    .filter((call) => call.route === 'put' && call.requestId === id)
    .map((call) => `${call.putStatus} ${call.status}`);

/** The sandbox's request-token exchanges, by answer status. */
export const exchangesAt = (sb: RunningSandbox): Array<number | null> =>
  sb.calls
    .list()
    .filter((call) => call.route === 'exchange')
    .map((call) => call.status);

/** Waits until `check` holds of the request as the API shows it. */
export const untilRequest = (relay: RunningRelay, id: string, check: (request: ConnectionRequest) => boolean, timeoutMs = 10_000) =>
  eventually(async () => {
    const request = await requestOf(relay, id);
    return check(request) && request;
  }, timeoutMs);
