import { browser } from 'wxt/browser';
import type { Summary } from '../../shared/models.js';
import { concurProblem, RelayProblem, type Problem } from '../lib/problems.js';
import { createRelayClient } from '../lib/relay-client.js';
import type { Settings } from '../lib/settings.js';

/**
 * What the options page does besides drawing: ask for host access, test a connection.
 */

/**
 * The host permission pattern for a relay address. Match patterns carry no port in Firefox (a
 * pattern with one never matches); without one, Chrome matches every port too.
 */
export function hostAccessPattern(relayUrl: string): string {
  const url = new URL(relayUrl);
  return `${url.protocol}//${url.hostname}/*`;
}

type HostAccess = 'granted' | 'refused' | 'unavailable';

/**
 * Asks for access to the relay's host. Call it straight from the click (or submit) handler,
 * before any await: browsers only show the prompt during a user gesture. It calls
 * `permissions.request` synchronously and only then waits.
 */
export function requestHostAccess(relayUrl: string): Promise<HostAccess> {
  let pending: Promise<boolean>;
  try {
    const permissions = (browser as unknown as { permissions?: { request(p: { origins: string[] }): Promise<boolean> } })
      .permissions;
    if (!permissions || typeof permissions.request !== 'function') return Promise.resolve('unavailable');
    pending = permissions.request({ origins: [hostAccessPattern(relayUrl)] });
  } catch {
    return Promise.resolve('unavailable');
  }
  return Promise.resolve(pending).then(
    (granted): HostAccess => (granted ? 'granted' : 'refused'),
    (): HostAccess => 'unavailable',
  );
}

export type ConnectionTest =
  | { ok: true; summary: Summary; concurProblem: Problem | undefined }
  | { ok: false; problem: Problem; detail: string | undefined };

/** Asks the relay for its summary with these settings: does it answer, does it take the key, how is Concur? */
export async function testConnection(
  settings: Pick<Settings, 'relayUrl' | 'apiKey'>,
  fetchImpl?: typeof fetch,
): Promise<ConnectionTest> {
  try {
    const summary = await createRelayClient(settings, fetchImpl).summary();
    return { ok: true, summary, concurProblem: concurProblem(summary.concur.state) };
  } catch (error) {
    if (error instanceof RelayProblem) return { ok: false, problem: error.problem, detail: error.detail };
    return { ok: false, problem: 'relay_error', detail: undefined };
  }
}
