// @vitest-environment happy-dom
import { act } from 'preact/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import type { ConnectionRequest } from '../../../../shared/models.js';
import { ESTIMATED_ROW_PX } from '../../../../extension/popup/components/list-window.js';
import { fakeClient, fakeLive, request, summaryOf, testDeps } from '../../helpers/popup-fixtures.js';
import { $, click, countOf, key, mount, row, rowIds, rows, unmountAll, waitFor } from '../../helpers/popup-dom.js';

/**
 * The windowed list: with 1,000 requests only the rows in view (and a few more) are in the DOM,
 * yet every request can be reached by keyboard, by scrolling and by a notification's link, and a
 * screen reader hears the list's real size. (happy-dom lays nothing out: rows count as the
 * estimated height there, and the panel as 600 px; real layout is covered by the e2e tests.)
 */

beforeEach(() => fakeBrowser.reset());
afterEach(() => unmountAll());

/** Newest first: index i is the (i + 1)th row. */
function thousand(): ConnectionRequest[] {
  const base = Date.parse('2025-03-01T11:00:00.000Z');
  return Array.from({ length: 1000 }, (_, i) =>
    request({ firstName: `Traveller${i}`, lastName: 'Test', lastModified: new Date(base - i * 1000).toISOString() }),
  );
}

const MAX_ROWS = 40;
const position = (li: Element | undefined) => Number(li?.getAttribute('aria-posinset'));

async function mountThousand(hash = '') {
  const items = thousand();
  const m = await mount(testDeps(fakeClient(items)), hash);
  await waitFor(() => expect(countOf(m.root, 'pending')).toBe('1000'), 10_000);
  await waitFor(() => expect(rows(m.root).length).toBeGreaterThan(0));
  return { ...m, items };
}

describe('popup windowed list', () => {
  it('renders a bounded number of rows, each saying its place in the whole list', async () => {
    const { root, items } = await mountThousand();
    const shown = rows(root);
    expect(shown.length).toBeGreaterThan(5);
    expect(shown.length).toBeLessThanOrEqual(MAX_ROWS);
    expect(rowIds(root)).toEqual(items.slice(0, shown.length).map((r) => r.id));
    shown.forEach((li, i) => {
      expect(li.getAttribute('aria-setsize')).toBe('1000');
      expect(position(li)).toBe(i + 1);
    });
    const list = $(root, 'ul[role="list"]')!;
    // The rows not rendered are stood in for by padding below the window.
    expect(parseFloat(list.style.paddingTop || '0')).toBe(0);
    expect(parseFloat(list.style.paddingBottom)).toBeGreaterThan(900 * ESTIMATED_ROW_PX);
  });

  it('End selects the last request: its row is rendered, focused and the tab stop; Home goes back', async () => {
    const { root, items } = await mountThousand();
    rows(root)[0]!.focus();
    await key(document.activeElement!, 'End');
    const last = row(root, items[999]!.id);
    expect(last).toBeDefined();
    expect(document.activeElement).toBe(last);
    expect(last!.tabIndex).toBe(0);
    expect(position(last)).toBe(1000);
    expect(rows(root).filter((li) => li.tabIndex === 0)).toEqual([last]);
    expect(rows(root).length).toBeLessThanOrEqual(MAX_ROWS);
    // ↑ from the last goes to the 999th, which is there too.
    await key(document.activeElement!, 'k');
    expect(document.activeElement).toBe(row(root, items[998]!.id));
    await key(document.activeElement!, 'Home');
    expect(document.activeElement).toBe(row(root, items[0]!.id));
    expect(position(document.activeElement!)).toBe(1);
  });

  it('j walks through every row past the window, one at a time', async () => {
    const { root, items } = await mountThousand();
    rows(root)[0]!.focus();
    for (let i = 1; i <= 60; i++) {
      await key(document.activeElement!, 'j');
      expect(document.activeElement).toBe(row(root, items[i]!.id));
    }
    expect(position(document.activeElement!)).toBe(61);
    expect(rows(root).length).toBeLessThanOrEqual(MAX_ROWS);
  });

  it('#request=<id> of the 900th request selects it and brings its row', async () => {
    const items = thousand();
    const target = items[899]!;
    const { root } = await mount(testDeps(fakeClient(items)), `#request=${encodeURIComponent(target.id)}`);
    await waitFor(() => expect(document.activeElement).toBe(row(root, target.id)));
    expect(position(row(root, target.id))).toBe(900);
    expect(row(root, target.id)!.tabIndex).toBe(0);
    expect(rows(root).length).toBeLessThanOrEqual(MAX_ROWS);
  });

  it('scrolling shows the rows further down, and keeps the active row in the DOM', async () => {
    const { root, items } = await mountThousand();
    rows(root)[0]!.focus();
    const panel = $(root, '.panel')!;
    // The one piece of layout the list reads: where it is relative to the scrolled panel.
    const list = $(root, 'ul[role="list"]')!;
    list.getBoundingClientRect = () => ({ top: -panel.scrollTop, bottom: 0, left: 0, right: 0, width: 0, height: 0, x: 0, y: -panel.scrollTop }) as DOMRect;
    await act(() => {
      panel.scrollTop = 500 * ESTIMATED_ROW_PX;
      panel.dispatchEvent(new Event('scroll'));
    });
    const ids = rowIds(root);
    expect(ids).toContain(items[500]!.id);
    expect(ids).toContain(items[510]!.id);
    expect(ids).not.toContain(items[1]!.id);
    // The active (focused) request stays, so the focus is not lost; a spacer stands for the rows between.
    expect(ids[0]).toBe(items[0]!.id);
    expect(document.activeElement).toBe(row(root, items[0]!.id));
    expect(root.querySelector('li.gap[aria-hidden="true"]')).not.toBeNull();
    expect(rows(root).length).toBeLessThanOrEqual(MAX_ROWS);
    // j from there goes on from the active row, not from the window.
    await key(document.activeElement!, 'j');
    expect(document.activeElement).toBe(row(root, items[1]!.id));
  });

  it('a new request at the top shifts everyone’s place; a reply far down still works', async () => {
    const items = thousand();
    const live = fakeLive();
    const client = fakeClient(items);
    const { root } = await mount(testDeps(client, { followEvents: live.follow }));
    await waitFor(() => expect(countOf(root, 'pending')).toBe('1000'), 10_000);
    const fresh = request({ firstName: 'Newest', lastModified: new Date(Date.parse('2025-03-01T11:30:00.000Z')).toISOString() });
    await live.emit('request.created', fresh);
    await live.emit('summary', summaryOf([...items, fresh]));
    expect(countOf(root, 'pending')).toBe('1001');
    expect(rowIds(root)[0]).toBe(fresh.id);
    expect(rows(root).every((li) => li.getAttribute('aria-setsize') === '1001')).toBe(true);
    expect(position(row(root, items[0]!.id))).toBe(2);
    // The 800th: reached with the keyboard, replied to with one click.
    rows(root)[0]!.focus();
    await key(document.activeElement!, 'End');
    await key(document.activeElement!, 'k');
    const target = items[998]!;
    expect(document.activeElement).toBe(row(root, target.id));
    await click(row(root, target.id)!.querySelector('[data-primary]'));
    await waitFor(() => expect(client.replyCalls.map((c) => c.id)).toEqual([target.id]));
    await waitFor(() => expect(row(root, target.id)).toBeUndefined());
    expect(countOf(root, 'pending')).toBe('1000');
  });
});
