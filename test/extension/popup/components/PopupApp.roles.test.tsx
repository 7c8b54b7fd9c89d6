// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import type { Me } from '../../../../shared/people.js';
import { RelayProblem } from '../../../../extension/lib/problems.js';
import { settingsItem } from '../../../../extension/lib/settings.js';
import { POPUP_TEXT, PROBLEM_TEXTS } from '../../../../extension/lib/texts.js';
import { realPopupDeps } from '../../../../extension/popup/deps.js';
import { SETTINGS, ago, fakeClient, inFuture, MIN, request, testDeps } from '../../helpers/popup-fixtures.js';
import { $, $$, click, mount, row, rows, tab, unmountAll, waitFor } from '../../helpers/popup-dom.js';

/**
 * What the key's role changes in the popup (GET /api/v1/me, kept with the settings by the options
 * page): a key that may not reply sees no reply buttons and one note saying why; repliers and
 * admins see them as before; a relay's 403 forbidden is said in the row.
 */

beforeEach(() => fakeBrowser.reset());
afterEach(() => unmountAll());

const bob: Me = { name: 'Bob', role: 'viewer', prefix: 'trl_bobx' };
const alice: Me = { name: 'Alice', role: 'replier', prefix: 'trl_alic' };
const admin: Me = { name: 'Ops', role: 'admin', prefix: 'trl_opsx' };

/** A pending request (with a token), a failed and a connected one: every tab that may offer replies. */
const mixed = () => [
  request({ firstName: 'Pia', requestTokenExpiresAt: inFuture(10 * MIN) }),
  request({ firstName: 'Fay', status: 'CREU1', lastModified: ago(2 * MIN) }),
  request({ firstName: 'Cal', status: 'CRSUC', lastModified: ago(3 * MIN) }),
];
const replyControls = (root: ParentNode) => $$(root, '[data-code], .btn-more');
const notes = (root: ParentNode) => $$(root, '[data-note="cannot-reply"]');

describe('popup: what the key may do', () => {
  it('a viewer (the relay says so): no reply buttons on any tab, and one note with the key’s name', async () => {
    const items = mixed();
    const client = fakeClient(items);
    client.meValue = bob;
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(notes(root)).toHaveLength(1));
    expect(notes(root)[0]!.textContent).toBe(POPUP_TEXT.cannotReply('Bob'));
    expect(client.meCalls).toBe(1);
    for (const group of ['pending', 'failed', 'connected'] as const) {
      await click(tab(root, group));
      expect(rows(root), group).toHaveLength(1);
      expect(replyControls(root), group).toEqual([]);
    }
    // The rest of a row is as it was: the token's time still shows.
    await click(tab(root, 'pending'));
    expect($(row(root, items[0]!.id)!, '.token')?.textContent).toBe('token: 10 min left');
    expect($(root, '.help')?.textContent).toBe(POPUP_TEXT.keyboardHelpView);
    expect(notes(root)).toHaveLength(1);
  });

  it('a viewer kept with the settings: no buttons from the first frame, and the relay is not asked again', async () => {
    const client = fakeClient(mixed());
    client.meValue = alice; // what the relay would say; the kept answer is used
    const { root } = await mount(testDeps(client, { loadSettings: async () => ({ ...SETTINGS, me: bob }) }));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    expect(replyControls(root)).toEqual([]);
    expect(notes(root)).toHaveLength(1);
    expect(client.meCalls).toBe(0);
  });

  for (const me of [alice, admin]) {
    it(`${me.role}: reply buttons as before, no note`, async () => {
      const items = mixed();
      const client = fakeClient(items);
      client.meValue = me;
      const { root } = await mount(testDeps(client));
      await waitFor(() => expect(client.meCalls).toBe(1));
      await waitFor(() => expect($(row(root, items[0]!.id)!, '[data-primary]')?.dataset.code).toBe('CRSUC'));
      expect(notes(root)).toEqual([]);
      expect($(root, '.help')?.textContent).toBe(POPUP_TEXT.keyboardHelp);
      await click(tab(root, 'failed'));
      expect($(row(root, items[1]!.id)!, '.btn-more')).not.toBeNull();
    });
  }

  it('a relay without /me: buttons as before (the relay has the last word), no note', async () => {
    const items = mixed();
    const client = fakeClient(items);
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(client.meCalls).toBe(1));
    await waitFor(() => expect($(row(root, items[0]!.id)!, '[data-primary]')).not.toBeNull());
    expect(notes(root)).toEqual([]);
  });

  it('the options page keeping a viewer for the same key takes the buttons away in the open popup', async () => {
    await settingsItem.setValue(SETTINGS);
    const items = mixed();
    const client = fakeClient(items);
    const { root } = await mount({ ...testDeps(client), loadSettings: realPopupDeps.loadSettings, watchSettings: realPopupDeps.watchSettings });
    await waitFor(() => expect($(row(root, items[0]!.id)!, '[data-primary]')).not.toBeNull());
    await settingsItem.setValue({ ...SETTINGS, me: bob });
    await waitFor(() => expect(notes(root)).toHaveLength(1));
    expect(replyControls(root)).toEqual([]);
    // The same relay and key: the list stayed, nothing was read again from scratch.
    expect(rows(root)).toHaveLength(1);
  });

  it('a 403 forbidden from the relay is said in the row, with the relay’s words', async () => {
    const items = mixed();
    const client = fakeClient(items);
    const detail = 'the API key trl_bobx… (Bob) is a viewer: it may not send replies';
    client.replyImpl = async () => {
      throw new RelayProblem('forbidden', detail);
    };
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await click($(row(root, items[0]!.id)!, '[data-primary]'));
    await waitFor(() => expect($(row(root, items[0]!.id)!, '.reply-error')).not.toBeNull());
    const error = $(row(root, items[0]!.id)!, '.reply-error')!.textContent ?? '';
    expect(error).toContain(PROBLEM_TEXTS.forbidden.message);
    expect(error).toContain(detail);
    // The list stays: only that reply failed.
    expect($(root, '.state-error')).toBeNull();
    expect(rows(root)).toHaveLength(1);
  });
});
