// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { POPUP_TEXT, PROBLEM_TEXTS } from '../../../extension/lib/texts.js';
import { realPopupDeps } from '../../../extension/popup/deps.js';
import { freshBrowserAndRelay } from '../helpers/fresh.js';
import { DOUBLE_KEY, makeRequest, type RelayDouble } from '../helpers/relay-double.js';
import { connection } from '../helpers/popup-fixtures.js';
import { $, $$, click, mount, row, tab, unmountAll, waitFor } from '../helpers/popup-dom.js';

/**
 * The popup with its real world (deps.ts: the relay client, the live events) against the relay
 * double over loopback HTTP: what the relay's connections and its exchange status look like once
 * they have crossed the wire and been validated by the shared models.
 */

let relay: RelayDouble;
beforeEach(async () => {
  relay = await freshBrowserAndRelay();
});
afterEach(async () => {
  unmountAll();
  await relay.close();
});

const settings = () => ({ relayUrl: relay.url, apiKey: DOUBLE_KEY, notifications: false });
const open = () => mount({ ...realPopupDeps, loadSettings: async () => settings(), watchSettings: () => () => undefined, notifyBackground: () => undefined });
const liveOpen = (root: ParentNode) => expect($(root, '.live')?.className).toContain('live-open');

describe('the popup against a relay over HTTP', () => {
  it('lists the connections and follows their events: the Connected tab says which work and who made them', async () => {
    const ada = makeRequest({ firstName: 'Ada', status: 'CRSUC' });
    const bea = makeRequest({ firstName: 'Bea', status: 'CRSUC' });
    relay.requests.push(ada, bea);
    relay.connections = [connection(ada, { connectedBy: 'Alice' })];
    const { root } = await open();
    await waitFor(() => expect($(root, '#tab-connected')).not.toBeNull());
    await click(tab(root, 'connected'));
    await waitFor(() => expect($(row(root, ada.id)!, '.connection')?.dataset.connection).toBe('active'));
    expect($(row(root, ada.id)!, '.reply-by')?.textContent).toMatch(/^Connected by Alice · /);
    expect($(row(root, bea.id)!, '.connection')).toBeNull();
    await waitFor(() => liveOpen(root));

    await relay.connect(connection(bea, { connectedBy: 'auto' }));
    await waitFor(() => expect($(row(root, bea.id)!, '.reply-by')?.textContent).toMatch(/^Connected automatically · /));
    await relay.connect(connection(ada, { connectedBy: 'Alice', state: 'refresh_failed', lastError: 'invalid_grant' }));
    await waitFor(() => expect($(row(root, ada.id)!, '.connection')?.textContent).toBe(POPUP_TEXT.connection.refreshFailed('invalid_grant')));
  });

  it('a relay without the connections route: the tab as before, its events still tell', async () => {
    const ada = makeRequest({ firstName: 'Ada', status: 'CRSUC' });
    relay.requests.push(ada);
    const { root } = await open();
    await waitFor(() => expect($(root, '#tab-connected')).not.toBeNull());
    await click(tab(root, 'connected'));
    await waitFor(() => expect(row(root, ada.id)).toBeDefined());
    await waitFor(() => liveOpen(root));
    expect($(root, '.connection, .state-error, .banner')).toBeNull();
    await relay.connect(connection(ada, { state: 'revoked' }), 'connection.updated');
    await waitFor(() => expect($(row(root, ada.id)!, '.connection')?.dataset.connection).toBe('revoked'));
  });

  it('the relay’s summary says the exchange is unavailable: Connected disabled with its reason; a refused click says it in the row', async () => {
    const reason = 'CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET are not set';
    const pia = makeRequest({ firstName: 'Pia' });
    relay.requests.push(pia);
    relay.exchange = { state: 'unavailable', reason };
    const first = await open();
    await waitFor(() => expect($$(first.root, '[data-note="connect-unavailable"]').map((n) => n.textContent)).toEqual([POPUP_TEXT.connectUnavailable(reason)]));
    expect($(row(first.root, pia.id)!, '[data-code="CRSUC"]')?.getAttribute('aria-disabled')).toBe('true');
    unmountAll();

    // A popup that read the summary while the exchange worked: the relay refuses the click with 422.
    relay.exchange = { state: 'ok', reason: null };
    const { root } = await open();
    await waitFor(() => expect($(row(root, pia.id)!, '[data-primary]')).not.toBeNull());
    relay.exchange = { state: 'unavailable', reason };
    await click($(row(root, pia.id)!, '[data-primary]'));
    await waitFor(() => expect($(row(root, pia.id)!, '.reply-error')?.textContent).toContain(reason));
    expect($(row(root, pia.id)!, '.reply-error')?.textContent).toContain(PROBLEM_TEXTS.exchange_unavailable.message);
    expect($(row(root, pia.id)!, '[data-code="CRSUC"]')?.getAttribute('aria-disabled')).toBe('true');
  });
});
