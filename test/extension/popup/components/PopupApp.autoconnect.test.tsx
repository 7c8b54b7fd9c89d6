// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import type { RequestMatch } from '../../../../shared/match.js';
import type { Summary } from '../../../../shared/models.js';
import { POPUP_TEXT } from '../../../../extension/lib/texts.js';
import { ago, fakeClient, fakeLive, MIN, request, summaryOf, testDeps } from '../../helpers/popup-fixtures.js';
import { $, mount, row, rowIds, rows, unmountAll, waitFor } from '../../helpers/popup-dom.js';

/**
 * The Pending tab and auto-connect: whether the relay asks a member directory is what its
 * summary says (`autoConnect.directory`), not something the popup works out from the requests.
 * With a directory, a pending request without an answer or a reply is "auto-connecting…" and goes
 * below what waits for a person, however old it is; without one it is a person's like any other.
 */

beforeEach(() => fakeBrowser.reset());
afterEach(() => unmountAll());

const ASKS: Summary['autoConnect'] = { policy: 'connect', directory: true };
const NONE: Summary['autoConnect'] = { policy: 'off', directory: false };
const notFound: RequestMatch = { result: 'not_found', note: null, at: ago(20 * MIN) };

// The unanswered one is the newest, and older than any grace period the popup used to give.
const unanswered = request({ status: 'Pending', firstName: 'Una', firstSeenAt: ago(10 * MIN), lastModified: ago(10 * MIN) });
const answered = request({ status: 'Pending', firstName: 'Ann', firstSeenAt: ago(20 * MIN), lastModified: ago(20 * MIN), match: notFound });
const items = [unanswered, answered];

const autoLine = (id: string) => $(row(document, id)!, '.match-auto')?.textContent ?? null;

describe('popup: the Pending tab follows the summary’s autoConnect', () => {
  it('a relay that asks a directory: the unanswered request is auto-connecting…, below what waits for a person', async () => {
    const { root } = await mount(testDeps(fakeClient(items, summaryOf(items, {}, ASKS))));
    await waitFor(() => expect(rows(root)).toHaveLength(2));
    expect(rowIds(root)).toEqual([answered.id, unanswered.id]);
    expect(autoLine(unanswered.id)).toBe(POPUP_TEXT.askingDirectory);
  });

  it('a relay without one: newest first, and nothing said about a directory, though another request carries an answer', async () => {
    // Just arrived: the popup used to take the answer on the other request as a sign of a directory.
    const newcomer = request({ status: 'Pending', firstName: 'Neo', firstSeenAt: ago(5_000), lastModified: ago(5_000) });
    const shown = [newcomer, answered];
    const { root } = await mount(testDeps(fakeClient(shown, summaryOf(shown, {}, NONE))));
    await waitFor(() => expect(rows(root)).toHaveLength(2));
    expect(rowIds(root)).toEqual([newcomer.id, answered.id]);
    expect(autoLine(newcomer.id)).toBeNull();
  });

  it('a summary event that says otherwise reorders the tab at once', async () => {
    const live = fakeLive();
    const { root } = await mount(testDeps(fakeClient(items, summaryOf(items, {}, NONE)), { followEvents: live.follow }));
    await waitFor(() => expect(rows(root)).toHaveLength(2));
    await live.emit('summary', summaryOf(items, {}, ASKS));
    await waitFor(() => expect(rowIds(root)).toEqual([answered.id, unanswered.id]));
    expect(autoLine(unanswered.id)).toBe(POPUP_TEXT.askingDirectory);
  });
});
