import { browser } from 'wxt/browser';
import type { Summary } from '../../shared/models.js';
import type { Me } from '../../shared/people.js';
import { concurProblem, RelayProblem, type Problem } from '../lib/problems.js';
import { createRelayClient } from '../lib/relay-client.js';
import { sameMe, settingsItem, type Settings } from '../lib/settings.js';

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
  | { ok: true; summary: Summary; concurProblem: Problem | undefined; me: Me | null }
  | { ok: false; problem: Problem; detail: string | undefined; me: Me | null };

const asProblem = (error: unknown): RelayProblem => (error instanceof RelayProblem ? error : new RelayProblem('relay_error'));

/**
 * Asks the relay for its summary and who the key is, with these settings: does it answer, does
 * it take the key, whose key is it, how is Concur? `me` is null when the relay did not say (one
 * older than `/me`, or the key refused). A key whose role may not read the summary (a broker's)
 * still learns whose it is.
 */
export async function testConnection(
  settings: Pick<Settings, 'relayUrl' | 'apiKey'>,
  fetchImpl?: typeof fetch,
): Promise<ConnectionTest> {
  const client = createRelayClient(settings, fetchImpl);
  const [summary, me] = await Promise.allSettled([client.summary(), client.me()]);
  const known = me.status === 'fulfilled' ? me.value : null;
  if (summary.status === 'rejected') {
    const { problem, detail } = asProblem(summary.reason);
    return { ok: false, problem, detail, me: problem === 'key_refused' ? null : known };
  }
  return { ok: true, summary: summary.value, concurProblem: concurProblem(summary.value.concur.state), me: known };
}

/**
 * Keeps what the relay said about a key with the stored settings, when they still hold that very
 * address and key (another Save may have come in between); null takes a kept one away (the relay
 * has no `/me`). The popup reads the role from there.
 */
export async function rememberIdentity(tested: Pick<Settings, 'relayUrl' | 'apiKey'>, me: Me | null): Promise<void> {
  const stored = await settingsItem.getValue();
  if (stored.relayUrl !== tested.relayUrl || stored.apiKey !== tested.apiKey) return;
  if (sameMe(stored.me, me)) return;
  const { me: _old, ...rest } = stored;
  await settingsItem.setValue(me === null ? rest : { ...rest, me });
}
