// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import type { Summary } from '../../../../shared/models.js';
import type { Me } from '../../../../shared/people.js';
import { RelayProblem } from '../../../../extension/lib/problems.js';
import { POPUP_TEXT, PROBLEM_TEXTS } from '../../../../extension/lib/texts.js';
import { CONNECT_NOTE_ID } from '../../../../extension/popup/components/RequestRow.js';
import { ago, fakeClient, fakeLive, inFuture, MIN, reply, request, summaryOf, testDeps } from '../../helpers/popup-fixtures.js';
import { $, $$, click, key, mount, row, rows, tab, unmountAll, waitFor } from '../../helpers/popup-dom.js';

/**
 * Connected needs the relay to exchange the request token first (partner credentials). When its
 * summary says the exchange is unavailable, Connected is offered disabled, with the relay's reason
 * said once above the list; a relay that refuses a click anyway (422 exchange_unavailable, read
 * before its summary changed) has its reason said in the row, and the popup follows at once.
 */

beforeEach(() => fakeBrowser.reset());
afterEach(() => unmountAll());

const REASON = 'CONCUR_CLIENT_ID and CONCUR_CLIENT_SECRET are not set';
const unavailable = (summary: Summary, reason: string | null = REASON): Summary => ({ ...summary, exchange: { state: 'unavailable', reason } });

const notes = (root: ParentNode) => $$(root, '[data-note="connect-unavailable"]');
const connectButtons = (root: ParentNode) => $$<HTMLButtonElement>(root, '[data-code="CRSUC"]');

describe('popup: Connected while the relay cannot exchange tokens', () => {
  it('is disabled on every row with the relay’s reason: one note above the list, each button’s tooltip and description', async () => {
    const items = [request({ firstName: 'Pia', requestTokenExpiresAt: inFuture(10 * MIN) }), request({ firstName: 'Poe', lastModified: ago(2 * MIN) })];
    const client = fakeClient(items, unavailable(summaryOf(items)));
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(2));

    const text = POPUP_TEXT.connectUnavailable(REASON);
    expect(text).toContain(REASON);
    expect(notes(root).map((n) => n.textContent)).toEqual([text]);
    expect(notes(root)[0]!.id).toBe(CONNECT_NOTE_ID);
    expect(connectButtons(root)).toHaveLength(2);
    for (const button of connectButtons(root)) {
      expect(button.getAttribute('aria-disabled')).toBe('true');
      expect(button.title).toBe(text);
      expect(button.getAttribute('aria-describedby')).toBe(CONNECT_NOTE_ID);
    }
    // Said once, not in every row.
    expect($$(root, '.why')).toHaveLength(0);

    await click(connectButtons(root)[0]);
    expect(client.replyCalls).toEqual([]);
    // Enter on a row no longer lands on a reply: its "More" (the failure replies still work).
    const first = rows(root)[0]!;
    expect($(first, '[data-primary]')).toBeNull();
    first.focus();
    await key(first, 'Enter');
    expect(document.activeElement).toBe($(first, '.btn-more'));
    await click($(first, '.btn-more'));
    await click($(first, '.more [data-code="CREU1"]'));
    await waitFor(() => expect(client.replyCalls.map((c) => c.status)).toEqual(['CREU1']));
  });

  it('without a reason from the relay, says what it can; an expired token keeps its new-token reply first', async () => {
    const items = [request({ requestTokenExpiresAt: ago(MIN) })];
    const client = fakeClient(items, unavailable(summaryOf(items), null));
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    expect(notes(root).map((n) => n.textContent)).toEqual([POPUP_TEXT.connectUnavailable(null)]);
    expect($(rows(root)[0]!, '[data-primary]')?.dataset.code).toBe('CRRET');
  });

  it('follows the relay’s summary events: disabled when it says unavailable, usable again when it says ok', async () => {
    const items = [request()];
    const client = fakeClient(items);
    const live = fakeLive();
    const { root } = await mount(testDeps(client, { followEvents: live.follow }));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    expect(connectButtons(root)[0]!.getAttribute('aria-disabled')).toBeNull();
    expect(notes(root)).toHaveLength(0);

    await live.emit('summary', unavailable(summaryOf(items)));
    expect(connectButtons(root)[0]!.getAttribute('aria-disabled')).toBe('true');
    expect(notes(root)).toHaveLength(1);

    await live.emit('summary', summaryOf(items));
    expect(connectButtons(root)[0]!.getAttribute('aria-disabled')).toBeNull();
    expect(notes(root)).toHaveLength(0);
    await click(connectButtons(root)[0]);
    await waitFor(() => expect(client.replyCalls.map((c) => c.status)).toEqual(['CRSUC']));
  });

  it('a 422 exchange_unavailable (the summary was older) says the relay’s reason in the row, and every Connected follows', async () => {
    const items = [request({ firstName: 'Pia' }), request({ firstName: 'Poe', lastModified: ago(2 * MIN) })];
    const client = fakeClient(items);
    client.replyImpl = async () => {
      throw new RelayProblem('exchange_unavailable', REASON);
    };
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(2));
    await click($(row(root, items[0]!.id)!, '[data-primary]'));
    await waitFor(() => expect($(row(root, items[0]!.id)!, '.reply-error')).not.toBeNull());
    const said = $(row(root, items[0]!.id)!, '.reply-error')!.textContent ?? '';
    expect(said).toContain(PROBLEM_TEXTS.exchange_unavailable.message);
    expect(said).toContain(REASON);
    // Trying again would meet the same refusal.
    expect($(row(root, items[0]!.id)!, '[data-retry]')).toBeNull();
    expect($(root, '[data-live="alert"]')?.textContent).toContain(REASON);
    // The request stays where it was, the list is not an error, and no Connected is offered any more.
    expect(rows(root)).toHaveLength(2);
    expect($(root, '.state-error')).toBeNull();
    expect(notes(root).map((n) => n.textContent)).toEqual([POPUP_TEXT.connectUnavailable(REASON)]);
    expect(connectButtons(root).map((b) => b.getAttribute('aria-disabled'))).toEqual(['true', 'true']);
  });

  it('another failure of a Connected click keeps its "Try again"', async () => {
    const items = [request()];
    const client = fakeClient(items, unavailable(summaryOf(items)));
    client.replyImpl = async () => {
      throw new RelayProblem('unreachable');
    };
    const live = fakeLive();
    const { root } = await mount(testDeps(client, { followEvents: live.follow }));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await live.emit('summary', summaryOf(items));
    await click(connectButtons(root)[0]);
    await waitFor(() => expect($(rows(root)[0]!, '[data-retry]')).not.toBeNull());
  });

  it('a viewer sees no note: it has no Connected to disable', async () => {
    const items = [request()];
    const client = fakeClient(items, unavailable(summaryOf(items)));
    const viewer: Me = { name: 'Bob', role: 'viewer', prefix: 'trl_bobx' };
    client.meValue = viewer;
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect($$(root, '[data-note="cannot-reply"]')).toHaveLength(1));
    expect(notes(root)).toHaveLength(0);
    expect(connectButtons(root)).toHaveLength(0);
  });

  it('a CRSUC on its way when the relay lost its credentials still says what became of it', async () => {
    const a = request({ reply: reply('CRSUC', { state: 'failed', lastError: 'Concur refused the partner credentials' }) });
    const client = fakeClient([a], unavailable(summaryOf([a]), 'Concur refused the partner credentials'));
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    expect($(rows(root)[0]!, '.reply-error')?.textContent).toBe(POPUP_TEXT.concurRefused('Connected', 'Concur refused the partner credentials'));
    await click(tab(root, 'connected'));
    expect(rows(root)).toHaveLength(0);
  });
});
