// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import type { Reply } from '../../../shared/models.js';
import { RelayProblem } from '../../../extension/lib/problems.js';
import { POPUP_TEXT, PROBLEM_TEXTS, TEXT } from '../../../extension/lib/texts.js';
import { NOW, fakeClient, fakeLive, reply, request, summaryOf, testDeps } from '../helpers/popup-fixtures.js';
import { $, click, countOf, mount, row, rowIds, rows, tab, unmountAll, waitFor } from '../helpers/popup-dom.js';

beforeEach(() => fakeBrowser.reset());
afterEach(() => unmountAll());

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('popup replies', () => {
  it('one click: sending (buttons disabled), then moved to its group and announced; the badge is told', async () => {
    const a = request({ firstName: 'Zoë', lastName: 'Ångström' });
    const b = request();
    const client = fakeClient([a, b]);
    const answer = deferred<Reply>();
    client.replyImpl = () => answer.promise;
    const live = fakeLive();
    const deps = testDeps(client, { followEvents: live.follow });
    const { root } = await mount(deps);
    await waitFor(() => expect(rows(root)).toHaveLength(2));

    await click($(row(root, a.id)!, '[data-primary]'));
    expect(client.replyCalls).toEqual([{ id: a.id, status: 'CRSUC', key: 'key-1' }]);
    const primary = $(row(root, a.id)!, '[data-primary]')!;
    expect(primary.textContent).toBe(TEXT.sending);
    expect(primary.getAttribute('aria-disabled')).toBe('true');
    expect($(row(root, a.id)!, '.btn-more')).not.toBeNull();
    // A second click while sending does not send twice.
    await click(primary);
    expect(client.replyCalls).toHaveLength(1);

    answer.resolve(reply('CRSUC'));
    await waitFor(() => expect(rowIds(root)).toEqual([b.id]));
    expect(countOf(root, 'pending')).toBe('1');
    expect(countOf(root, 'connected')).toBe('1');
    expect($(root, '[data-live="status"]')?.textContent).toBe('Sent “Connected” for Zoë Ångström.');
    expect(deps.notifyBackground).toHaveBeenCalledTimes(1);

    await click(tab(root, 'connected'));
    expect(rowIds(root)).toEqual([a.id]);
    expect(row(root, a.id)?.textContent).toContain('on its way to Concur');

    // Concur confirms: the relay updates the request.
    const sentAt = new Date(NOW + 2000).toISOString();
    await live.emit('reply.updated', { requestId: a.id, reply: reply('CRSUC', { state: 'sent', attempts: 1, updatedAt: sentAt }) });
    await live.emit('request.updated', { ...a, status: 'CRSUC', group: 'connected', lastModified: sentAt, reply: reply('CRSUC', { state: 'sent', attempts: 1, updatedAt: sentAt }) });
    await live.emit('summary', summaryOf([b, { ...a, group: 'connected' }]));
    expect(rowIds(root)).toEqual([a.id]);
    expect(row(root, a.id)?.textContent).not.toContain('on its way');
    expect($(row(root, a.id)!, '.status')?.textContent).toBe('connected: partner stored the tokens');
    expect(countOf(root, 'connected')).toBe('1');
    expect(countOf(root, 'pending')).toBe('1');
    expect($(root, '[data-live="status"]')?.textContent).toBe('Concur accepted “Connected” for Zoë Ångström.');
  });

  it('a failure reply from the "More" group moves the request to Failed', async () => {
    const a = request({ firstName: 'Ann' });
    const client = fakeClient([a]);
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    const more = $(row(root, a.id)!, '.btn-more')!;
    expect(more.getAttribute('aria-expanded')).toBe('false');
    await click(more);
    expect(more.getAttribute('aria-expanded')).toBe('true');
    await click($(row(root, a.id)!, '.more [data-code="CREU2"]'));
    await waitFor(() => expect(rows(root)).toHaveLength(0));
    expect(client.replyCalls.map((c) => c.status)).toEqual(['CREU2']);
    await click(tab(root, 'failed'));
    expect(rowIds(root)).toEqual([a.id]);
  });

  it('an error shows inline; "Try again" sends with the same idempotency key', async () => {
    const a = request({ firstName: 'Zoë', lastName: 'Ång' });
    const client = fakeClient([a]);
    let calls = 0;
    client.replyImpl = async (_id, status) => {
      calls += 1;
      if (calls === 1) throw new RelayProblem('unreachable');
      return reply(status);
    };
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await click($(row(root, a.id)!, '[data-primary]'));
    await waitFor(() => expect($(row(root, a.id)!, '.reply-error')).not.toBeNull());
    const error = $(row(root, a.id)!, '.reply-error')!;
    expect(error.textContent).toContain(PROBLEM_TEXTS.unreachable.message);
    expect($(root, '[data-live="alert"]')?.textContent).toContain('was not sent');
    // The buttons are usable again.
    expect($(row(root, a.id)!, '[data-primary]')?.getAttribute('aria-disabled')).toBeNull();

    const retry = $(row(root, a.id)!, '[data-retry]')!;
    expect(retry.getAttribute('aria-label')).toContain('Zoë Ång');
    await click(retry);
    await waitFor(() => expect(rows(root)).toHaveLength(0));
    expect(client.replyCalls.map((c) => c.key)).toEqual(['key-1', 'key-1']);
  });

  it('a new click after an error is a new reply with a new key', async () => {
    const a = request();
    const client = fakeClient([a]);
    client.replyImpl = async () => {
      throw new RelayProblem('relay_error', 'another reply for this request is still on its way');
    };
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await click($(row(root, a.id)!, '[data-primary]'));
    await waitFor(() => expect($(row(root, a.id)!, '.reply-error')?.textContent).toContain('still on its way'));
    await click($(row(root, a.id)!, '[data-primary]'));
    await waitFor(() => expect(client.replyCalls).toHaveLength(2));
    expect(client.replyCalls.map((c) => c.key)).toEqual(['key-1', 'key-2']);
  });

  it('Concur refusing the reply brings the request back with Concur’s message', async () => {
    const a = request({ firstName: 'Ann' });
    const client = fakeClient([a]);
    const live = fakeLive();
    const { root } = await mount(testDeps(client, { followEvents: live.follow }));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await click($(row(root, a.id)!, '[data-primary]'));
    await waitFor(() => expect(rows(root)).toHaveLength(0));
    await live.emit('reply.updated', {
      requestId: a.id,
      reply: reply('CRSUC', { state: 'failed', attempts: 1, lastError: 'Invalid request token', updatedAt: new Date(NOW + 3000).toISOString() }),
    });
    expect(rowIds(root)).toEqual([a.id]);
    expect($(row(root, a.id)!, '.reply-error')?.textContent).toContain('Invalid request token');
    expect($(root, '[data-live="alert"]')?.textContent).toContain('Invalid request token');
  });

  it('without live events, a reply on its way is checked until Concur answers', async () => {
    const a = request();
    const client = fakeClient([a]);
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await click($(row(root, a.id)!, '[data-primary]'));
    await waitFor(() => expect(rows(root)).toHaveLength(0));
    // Meanwhile the relay sent it and Concur accepted: the next check finds the request moved.
    const at = new Date(NOW + 1000).toISOString();
    client.items = [{ ...a, status: 'CRSUC', group: 'connected', lastModified: at, reply: reply('CRSUC', { state: 'sent', attempts: 1, updatedAt: at }) }];
    await click(tab(root, 'connected'));
    await waitFor(() => expect(row(root, a.id)?.textContent).not.toContain('on its way'), 4000);
    expect($(row(root, a.id)!, '.status')?.textContent).toBe('connected: partner stored the tokens');
  });

  it('Connected through the exchange: "connecting…", then a new token asked for, then connected; the row stays put', async () => {
    const a = request({ firstName: 'Zoë', lastName: 'Ång' });
    const client = fakeClient([a]);
    const live = fakeLive();
    const { root } = await mount(testDeps(client, { followEvents: live.follow }));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await click($(row(root, a.id)!, '[data-primary]'));
    await waitFor(() => expect(rows(root)).toHaveLength(0));
    await click(tab(root, 'connected'));
    const at = (s: number) => new Date(NOW + s * 1000).toISOString();
    const state = () => $(row(root, a.id)!, '.reply-state');

    await live.emit('reply.updated', { requestId: a.id, reply: reply('CRSUC', { state: 'exchanging', updatedAt: at(1) }) });
    expect(rowIds(root)).toEqual([a.id]);
    expect(state()?.textContent).toBe(POPUP_TEXT.exchanging(0, null));
    expect(state()?.dataset.replyState).toBe('exchanging');
    expect(countOf(root, 'connected')).toBe('1');

    // The token had expired: the relay asked Concur for a new one (its CRRET moves the request on Concur's side).
    await live.emit('reply.updated', {
      requestId: a.id,
      reply: reply('CRSUC', { state: 'waiting_token', attempts: 1, lastError: 'the request token had expired', updatedAt: at(2) }),
    });
    await live.emit('request.updated', { ...a, status: 'CRRET', lastModified: at(3), reply: null });
    expect(rowIds(root)).toEqual([a.id]);
    expect(state()?.textContent).toBe(POPUP_TEXT.waitingToken('the request token had expired'));
    expect(state()?.className).not.toContain('reply-error');
    expect(countOf(root, 'pending')).toBe('0');
    expect($(root, '[data-live="status"]')?.textContent).toBe(POPUP_TEXT.announceWaitingToken('Zoë Ång'));

    // The next poll brought the new token; the relay exchanged it and Concur took the CRSUC.
    await live.emit('reply.updated', { requestId: a.id, reply: reply('CRSUC', { state: 'exchanging', attempts: 1, updatedAt: at(4) }) });
    expect(state()?.textContent).toBe(POPUP_TEXT.exchanging(1, null));
    const sent = reply('CRSUC', { state: 'sent', attempts: 2, updatedAt: at(5) });
    await live.emit('reply.updated', { requestId: a.id, reply: sent });
    await live.emit('request.updated', { ...a, status: 'CRSUC', group: 'connected', lastModified: at(6), reply: sent });
    expect(rowIds(root)).toEqual([a.id]);
    expect(state()).toBeNull();
    expect($(root, '[data-live="status"]')?.textContent).toBe('Concur accepted “Connected” for Zoë Ång.');
  });

  it('without live events, a reply the relay is still exchanging is checked until Concur answers too', async () => {
    const a = request();
    const client = fakeClient([a]);
    client.replyImpl = async (_id, status) => reply(status, { state: 'exchanging' });
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await click($(row(root, a.id)!, '[data-primary]'));
    await click(tab(root, 'connected'));
    await waitFor(() => expect($(row(root, a.id)!, '.reply-state')?.textContent).toBe(POPUP_TEXT.exchanging(0, null)));
    const at = new Date(NOW + 1000).toISOString();
    client.items = [{ ...a, status: 'CRSUC', group: 'connected', lastModified: at, reply: reply('CRSUC', { state: 'sent', attempts: 1, updatedAt: at }) }];
    await waitFor(() => expect($(row(root, a.id)!, '.reply-state')).toBeNull(), 4000);
    expect($(row(root, a.id)!, '.status')?.textContent).toBe('connected: partner stored the tokens');
  });

  it('a request whose CRSUC waits for a new token offers no other reply, wherever it is shown', async () => {
    const a = request({ status: 'CRRET', reply: reply('CRSUC', { state: 'waiting_token', attempts: 1, lastError: 'token used' }) });
    const client = fakeClient([a]);
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(countOf(root, 'connected')).toBe('1'));
    expect(rows(root)).toHaveLength(0);
    await click(tab(root, 'connected'));
    expect($(row(root, a.id)!, '[data-code], .btn-more')).toBeNull();
    expect($(row(root, a.id)!, '.reply-state')?.textContent).toBe(POPUP_TEXT.waitingToken('token used'));
  });

  it('a reply already on its way (from the relay) disables the buttons and says so', async () => {
    const a = request({ reply: reply('CRRET', { attempts: 2, lastError: 'Concur answered 503' }) });
    const client = fakeClient([a]);
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    const li = row(root, a.id)!;
    expect(li.textContent).toContain('“Ask for a new token” is on its way to Concur (attempt 2: Concur answered 503)');
    expect($(li, '[data-primary]')?.getAttribute('aria-disabled')).toBe('true');
    await click($(li, '[data-primary]'));
    expect(client.replyCalls).toHaveLength(0);
  });
});
