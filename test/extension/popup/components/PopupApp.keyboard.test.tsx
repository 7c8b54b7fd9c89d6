// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { MIN, ago, fakeClient, request, testDeps } from '../../helpers/popup-fixtures.js';
import { $, key, mount, row, rows, tab, unmountAll, waitFor } from '../../helpers/popup-dom.js';

beforeEach(() => fakeBrowser.reset());
afterEach(() => unmountAll());

const three = () => [
  request({ firstName: 'First', lastModified: ago(1 * MIN) }),
  request({ firstName: 'Second', lastModified: ago(2 * MIN) }),
  request({ firstName: 'Third', lastModified: ago(3 * MIN) }),
];

describe('popup keyboard', () => {
  it('has one tab stop in the list; j/k and arrows move the focus between requests', async () => {
    const items = three();
    const { root } = await mount(testDeps(fakeClient(items)));
    await waitFor(() => expect(rows(root)).toHaveLength(3));
    expect(rows(root).map((li) => li.tabIndex)).toEqual([0, -1, -1]);
    rows(root)[0]!.focus();
    await key(document.activeElement!, 'j');
    expect(document.activeElement).toBe(row(root, items[1]!.id));
    await key(document.activeElement!, 'ArrowDown');
    expect(document.activeElement).toBe(row(root, items[2]!.id));
    await key(document.activeElement!, 'j');
    expect(document.activeElement).toBe(row(root, items[2]!.id));
    await key(document.activeElement!, 'k');
    expect(document.activeElement).toBe(row(root, items[1]!.id));
    await key(document.activeElement!, 'ArrowUp');
    expect(document.activeElement).toBe(row(root, items[0]!.id));
    await key(document.activeElement!, 'End');
    expect(document.activeElement).toBe(row(root, items[2]!.id));
    expect(rows(root).map((li) => li.tabIndex)).toEqual([-1, -1, 0]);
    // Only the active row's buttons are in the tab order.
    expect($(row(root, items[0]!.id)!, '[data-primary]')?.tabIndex).toBe(-1);
    expect($(row(root, items[2]!.id)!, '[data-primary]')?.tabIndex).toBe(0);
  });

  it('Enter on a request goes to its primary reply; Enter there sends; the next request takes the focus', async () => {
    const items = three();
    const client = fakeClient(items);
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(3));
    row(root, items[1]!.id)!.focus();
    await key(document.activeElement!, 'Enter');
    expect(client.replyCalls).toHaveLength(0);
    const primary = $(row(root, items[1]!.id)!, '[data-primary]')!;
    expect(document.activeElement).toBe(primary);
    expect(primary.textContent).toBe('Connected');
    // Esc goes back to the request.
    await key(primary, 'Escape');
    expect(document.activeElement).toBe(row(root, items[1]!.id));
    await key(document.activeElement!, 'Enter');
    // A native button sends on Enter; happy-dom does not synthesise the click, so click it.
    (document.activeElement as HTMLElement).click();
    await waitFor(() => expect(rows(root)).toHaveLength(2));
    expect(client.replyCalls.map((c) => [c.id, c.status])).toEqual([[items[1]!.id, 'CRSUC']]);
    expect(document.activeElement).toBe(row(root, items[2]!.id));
  });

  it('Enter on a failed request goes to its "More" button (no one-key reply there)', async () => {
    const failed = request({ firstName: 'Fay', status: 'CREU1' });
    const { root } = await mount(testDeps(fakeClient([failed])));
    await waitFor(() => expect($(root, '[role="tablist"]')).not.toBeNull());
    tab(root, 'failed').click();
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    expect($(row(root, failed.id)!, '[data-primary]')).toBeNull();
    row(root, failed.id)!.focus();
    await key(document.activeElement!, 'Enter');
    expect(document.activeElement).toBe($(row(root, failed.id)!, '.btn-more'));
  });

  it('`/` focuses the search; ↓ from the search goes to the list; Esc clears it', async () => {
    const items = three();
    const { root } = await mount(testDeps(fakeClient(items)));
    await waitFor(() => expect(rows(root)).toHaveLength(3));
    rows(root)[1]!.focus();
    const slash = await key(document.activeElement!, '/');
    expect(slash.defaultPrevented).toBe(true);
    const search = $<HTMLInputElement>(root, 'input[type="search"]')!;
    expect(document.activeElement).toBe(search);
    // Typing "/" or "j" in the search box is just typing.
    const typed = await key(search, 'j');
    expect(typed.defaultPrevented).toBe(false);
    await key(search, 'ArrowDown');
    expect(document.activeElement).toBe(row(root, items[1]!.id));
  });

  it('arrow keys move between the tabs', async () => {
    const { root } = await mount(testDeps(fakeClient(three())));
    await waitFor(() => expect(rows(root)).toHaveLength(3));
    tab(root, 'pending').focus();
    await key(tab(root, 'pending'), 'ArrowRight');
    expect(tab(root, 'failed').getAttribute('aria-selected')).toBe('true');
    expect(document.activeElement).toBe(tab(root, 'failed'));
    await key(tab(root, 'failed'), 'ArrowRight');
    expect(tab(root, 'connected').getAttribute('aria-selected')).toBe('true');
    await key(tab(root, 'connected'), 'ArrowRight');
    expect(tab(root, 'pending').getAttribute('aria-selected')).toBe('true');
    await key(tab(root, 'pending'), 'ArrowLeft');
    expect(tab(root, 'connected').getAttribute('aria-selected')).toBe('true');
    expect([tab(root, 'pending').tabIndex, tab(root, 'connected').tabIndex]).toEqual([-1, 0]);
  });

  it('#request=<id> switches to its tab and focuses it', async () => {
    const items = [...three(), request({ firstName: 'Failed', status: 'CREU1' })];
    const target = items[3]!;
    const { root } = await mount(testDeps(fakeClient(items)), `#request=${encodeURIComponent(target.id)}`);
    await waitFor(() => expect(document.activeElement).toBe(row(root, target.id)));
    expect(tab(root, 'failed').getAttribute('aria-selected')).toBe('true');
    expect(row(root, target.id)?.tabIndex).toBe(0);
    // Going to another tab and back does not jump to it again.
    tab(root, 'failed').focus();
    await key(tab(root, 'failed'), 'ArrowLeft');
    expect(tab(root, 'pending').getAttribute('aria-selected')).toBe('true');
    await key(tab(root, 'pending'), 'ArrowRight');
    expect(tab(root, 'failed').getAttribute('aria-selected')).toBe('true');
    expect(document.activeElement).toBe(tab(root, 'failed'));
  });

  it('#request=<id> of a request not loaded yet fetches it; #group=failed opens that tab', async () => {
    const items = three();
    const client = fakeClient(items);
    const late = request({ firstName: 'Late', lastModified: new Date().toISOString() });
    const { root } = await mount(testDeps(client), `#request=${late.id}`);
    await waitFor(() => expect(rows(root)).toHaveLength(3));
    client.items = [...items, late];
    // Not in the first load; a hashchange (the background reusing the tab) points at it again.
    location.hash = `#request=${late.id}`;
    window.dispatchEvent(new Event('hashchange'));
    await waitFor(() => expect(document.activeElement).toBe(row(root, late.id)));
    location.hash = '#group=failed';
    window.dispatchEvent(new Event('hashchange'));
    await waitFor(() => expect(tab(root, 'failed').getAttribute('aria-selected')).toBe('true'));
  });
});
