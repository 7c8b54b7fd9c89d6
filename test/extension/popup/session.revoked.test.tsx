// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import type { ConnectionRequest, Summary } from '../../../shared/models.js';
import { RelayProblem } from '../../../extension/lib/problems.js';
import { settingsItem } from '../../../extension/lib/settings.js';
import { PROBLEM_TEXTS } from '../../../extension/lib/texts.js';
import { realPopupDeps } from '../../../extension/popup/deps.js';
import { SETTINGS, fakeClient, fakeLive, request, testDeps } from '../helpers/popup-fixtures.js';
import { $, $$, click, mount, row, rows, settle, unmountAll, waitFor } from '../helpers/popup-dom.js';

/**
 * A key revoked while the popup is open: whichever hears of it first — the live stream (the relay
 * closes it and refuses the reconnect) or the popup's next call (a refresh, a reply) — the popup
 * becomes the "key refused" state, and tells the background so the badge says it too.
 */

beforeEach(() => fakeBrowser.reset());
afterEach(() => unmountAll());

const refusedState = (root: ParentNode) => $(root, '.state-error[data-problem="key_refused"]');

function expectRefused(root: ParentNode): void {
  expect(refusedState(root)?.textContent).toContain(PROBLEM_TEXTS.key_refused.message);
  // Nothing of the list is left to act on; the way out is the options.
  expect(rows(root)).toEqual([]);
  expect($$(root, '[data-code]')).toEqual([]);
  expect($(root, '.state-error [data-action="options"]')).not.toBeNull();
}

async function openWithList() {
  const a = request({ firstName: 'Ann' });
  const client = fakeClient([a]);
  const live = fakeLive();
  const deps = testDeps(client, { followEvents: live.follow });
  const { root } = await mount(deps);
  await waitFor(() => expect(rows(root)).toHaveLength(1));
  await live.open();
  return { a, client, live, deps, root };
}

describe('popup: the key revoked while it is open', () => {
  it('the live stream refused: the key-refused state, and the background is told', async () => {
    const { live, deps, root } = await openWithList();
    expect(deps.notifyBackground).not.toHaveBeenCalled();
    await live.problem('key_refused');
    await waitFor(() => expect(refusedState(root)).not.toBeNull());
    expectRefused(root);
    expect(deps.notifyBackground).toHaveBeenCalledTimes(1);
    // Said again (a last word from the stream): nothing changes, the background is not told twice.
    await live.problem('key_refused');
    expect(deps.notifyBackground).toHaveBeenCalledTimes(1);
  });

  it('the refused key’s stream stops; "Try again" starts afresh, stream and lists, once the relay takes the key again', async () => {
    const { client, live, root } = await openWithList();
    const first = live.options!;
    client.fail = new RelayProblem('key_refused');
    await click($(root, '[data-action="refresh"]'));
    await waitFor(() => expect(refusedState(root)).not.toBeNull());
    expect(first.signal.aborted).toBe(true);
    expect($(root, '.live')?.className).toContain('live-down');

    // Still refused: the same state, from a new stream and a new load.
    await click($(root, '.state-error [data-action="retry"]'));
    await waitFor(() => expect(live.calls).toBe(2));
    await waitFor(() => expect(refusedState(root)).not.toBeNull());

    client.fail = null;
    await click($(root, '.state-error [data-action="retry"]'));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    expect(live.calls).toBe(3);
    expect(live.options!.signal.aborted).toBe(false);
  });

  it('other stream problems leave the list alone', async () => {
    const { live, deps, root } = await openWithList();
    await live.problem('unreachable');
    expect(rows(root)).toHaveLength(1);
    expect(refusedState(root)).toBeNull();
    expect(deps.notifyBackground).not.toHaveBeenCalled();
  });

  it('the next call refused (a refresh): the same state, and the background is told', async () => {
    const { client, deps, root } = await openWithList();
    client.fail = new RelayProblem('key_refused');
    await click($(root, '[data-action="refresh"]'));
    await waitFor(() => expect(refusedState(root)).not.toBeNull());
    expectRefused(root);
    expect(deps.notifyBackground).toHaveBeenCalledTimes(1);
  });

  it('the next call refused (a reply): the same state', async () => {
    const { a, client, deps, root } = await openWithList();
    client.replyImpl = async () => {
      throw new RelayProblem('key_refused');
    };
    await click($(row(root, a.id)!, '[data-primary]'));
    await waitFor(() => expect(refusedState(root)).not.toBeNull());
    expectRefused(root);
    expect(deps.notifyBackground).toHaveBeenCalledTimes(1);
  });

  it('a refresh that was read before the refusal does not bring the list back', async () => {
    const { client, live, root } = await openWithList();
    let answer!: (summary: Summary) => void;
    const summary = client.summary;
    client.summary = () => new Promise<Summary>((resolve) => (answer = resolve));
    await click($(root, '[data-action="refresh"]'));
    await live.problem('key_refused');
    await waitFor(() => expect(refusedState(root)).not.toBeNull());
    answer(await summary());
    await settle();
    expectRefused(root);
  });

  it('a new key in the options brings the list back', async () => {
    await settingsItem.setValue(SETTINGS);
    const items: ConnectionRequest[] = [request()];
    const client = fakeClient(items);
    const live = fakeLive();
    const { root } = await mount({
      ...testDeps(client, { followEvents: live.follow }),
      loadSettings: realPopupDeps.loadSettings,
      watchSettings: realPopupDeps.watchSettings,
    });
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await live.problem('key_refused');
    await waitFor(() => expect(refusedState(root)).not.toBeNull());
    await settingsItem.setValue({ ...SETTINGS, apiKey: 'key-2' });
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    expect(refusedState(root)).toBeNull();
    expect(live.calls).toBe(2);
  });
});
