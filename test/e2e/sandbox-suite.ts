import { afterAll, beforeAll, expect } from 'vitest';
import type { RunningRelay } from '../../relay/boot/runtime.js';
import { ConnectionRequest } from '../../shared/models.js';
import { freePort, launchExtensionWithoutPages, reportSetup, sandboxRelayConfig, startSandboxRelay, type ExtensionBrowser } from './browser.js';

/**
 * One relay in sandbox mode and one browser with the built extension for a whole e2e file: both
 * started before its tests (then `prepare`, e.g. the extension's settings), both closed after.
 * A setup that fails fails every test with its error; a test that fails prints the relay's log.
 */

export interface SandboxSuite {
  /** The relay (after setup). */
  readonly relay: RunningRelay;
  /** The browser (after setup). */
  ext(): ExtensionBrowser;
  /** A call to the relay's API with the suite's admin key (JSON bodies). */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** A request as the relay's API shows it (asserted 200). */
  requestById(id: string): Promise<ConnectionRequest>;
}

export function sandboxSuite(
  adminKey: string,
  options: Parameters<typeof sandboxRelayConfig>[2] = {},
  prepare?: (relay: RunningRelay, browser: ExtensionBrowser) => Promise<void>,
): SandboxSuite {
  let relay: RunningRelay | undefined;
  let browser: ExtensionBrowser | undefined;
  const relayLogs: string[] = [];
  let setupError: unknown;

  beforeAll(async () => {
    try {
      relay = await startSandboxRelay(sandboxRelayConfig(adminKey, await freePort(), options), relayLogs);
      browser = await launchExtensionWithoutPages();
      await prepare?.(relay, browser);
    } catch (err) {
      setupError = err;
    }
  });

  afterAll(async () => {
    await browser?.close();
    await relay?.close();
  });

  reportSetup(() => setupError, relayLogs);

  const suite: SandboxSuite = {
    get relay() {
      if (relay === undefined) throw new Error('the relay did not start (see the first failure)');
      return relay;
    },
    ext() {
      if (browser === undefined) throw new Error('the browser did not start (see the first failure)');
      return browser;
    },
    api(path, init = {}) {
      return fetch(`${suite.relay.url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json', ...init.headers },
      });
    },
    async requestById(id) {
      const res = await suite.api(`/api/v1/requests/${encodeURIComponent(id)}`);
      expect(res.status).toBe(200);
      return ConnectionRequest.parse(await res.json());
    },
  };
  return suite;
}
