import { staticToken, type TokenProvider } from '../../relay/concur/auth.js';
import { ConcurClient } from '../../relay/concur/client.js';
import { createLogger, type Logger } from '../../relay/base/log.js';
import type { RunningSandbox } from '../../relay/sandbox/server.js';
import type { CallRecord } from '../../relay/sandbox/calls.js';

/** Helpers for the poller and outbox tests: a client for a running sandbox, its control API, a captured log. */

export const CR_PATH = '/api/v3.0/common/connectionrequests';

export function clientFor(
  sb: RunningSandbox,
  options: { auth?: TokenProvider; timeoutMs?: number; accept?: 'xml' | 'json'; baseUrl?: string } = {},
): ConcurClient {
  return new ConcurClient({
    baseUrl: options.baseUrl ?? sb.url,
    auth: options.auth ?? staticToken(sb.accessToken),
    timeoutMs: options.timeoutMs ?? 3000,
    accept: options.accept,
  });
}

/** A control API call; throws on anything but 2xx so a broken setup fails loudly. */
export async function control<T = unknown>(sb: RunningSandbox, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sb.url}/_sandbox${path}`, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`sandbox ${method} ${path} answered ${res.status}: ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

export const fault = (sb: RunningSandbox, spec: Record<string, unknown>) => control(sb, 'POST', '/faults', spec);
export const clearFaults = (sb: RunningSandbox) => control(sb, 'DELETE', '/faults');

export interface SandboxRequestView {
  id: string;
  status: string;
  requestToken: string;
  retries: number;
  lastReply: string | null;
}

export async function addRequests(sb: RunningSandbox, body: unknown): Promise<SandboxRequestView[]> {
  const answer = await control<{ requests: SandboxRequestView[] }>(sb, 'POST', '/requests', body);
  return answer.requests;
}

export async function sandboxRequest(sb: RunningSandbox, id: string): Promise<SandboxRequestView> {
  return (await control<{ request: SandboxRequestView }>(sb, 'GET', `/requests/${encodeURIComponent(id)}`)).request;
}

export async function calls(sb: RunningSandbox): Promise<CallRecord[]> {
  return (await control<{ calls: CallRecord[] }>(sb, 'GET', '/calls')).calls;
}

export async function listCalls(sb: RunningSandbox): Promise<CallRecord[]> {
  return (await calls(sb)).filter((call) => call.route === 'list');
}

export async function putCalls(sb: RunningSandbox, requestId?: string): Promise<CallRecord[]> {
  // A call a fault answered never reached the route, so only its path names the request.
  const path = requestId === undefined ? undefined : `${CR_PATH}/${encodeURIComponent(requestId)}`;
  return (await calls(sb)).filter((call) => call.route === 'put' && (path === undefined || call.path === path));
}

/** A partner's PUT straight to the sandbox, bypassing the relay (Concur's state changes behind its back). */
export async function putDirect(sb: RunningSandbox, id: string, status: string): Promise<number> {
  const res = await fetch(`${sb.url}${CR_PATH}/${encodeURIComponent(id)}`, {
    method: 'PUT',
    headers: { Authorization: `OAuth ${sb.accessToken}`, 'Content-Type': 'application/xml' },
    body: `<ConnectionRequest><Status>${status}</Status></ConnectionRequest>`,
  });
  await res.text();
  return res.status;
}

/** A logger at debug level whose JSON lines the test can read. */
export function captureLog(): { logger: Logger; lines: () => Array<Record<string, unknown>>; text: () => string } {
  const raw: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void raw.push(line) } });
  return {
    logger,
    lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>),
    text: () => raw.join(''),
  };
}

/** Polls `check` every few ms until it holds; fails after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 2000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A random source that always answers `value` (0.5 = the middle of the jitter range). */
export const fixedRandom = (value: number) => () => value;
