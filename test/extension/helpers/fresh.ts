import { vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { RelayDouble } from './relay-double';

/**
 * What each test of the background's and the options page's code starts from: a clean fake
 * browser (storage, listeners, alarms, notifications), no spies left from the test before, and a
 * relay double of its own, started. The caller closes the double after the test.
 */
export async function freshBrowserAndRelay(): Promise<RelayDouble> {
  fakeBrowser.reset();
  vi.restoreAllMocks();
  return new RelayDouble().start();
}
