import { render } from 'preact';
import { act } from 'preact/test-utils';
import type { Group } from '../../../shared/status.js';
import { PopupApp } from '../../../extension/popup/components/PopupApp.js';
import type { PopupDeps } from '../../../extension/popup/controller.js';

/** Mounting the popup into happy-dom and driving it like a user. */

export interface Mounted {
  root: HTMLElement;
  unmount(): void;
}

const mounted: Mounted[] = [];

export async function mount(deps: Partial<PopupDeps>, initialHash = ''): Promise<Mounted> {
  const root = document.createElement('div');
  document.body.append(root);
  await act(() => render(<PopupApp deps={deps} initialHash={initialHash} />, root));
  const m = {
    root,
    unmount: () => {
      render(null, root);
      root.remove();
    },
  };
  mounted.push(m);
  return m;
}

export function unmountAll() {
  while (mounted.length) mounted.pop()?.unmount();
}

/** Lets promises, renders and effects run until `check` passes (or fails after `timeout`). */
export async function waitFor(check: () => void, timeout = 2000): Promise<void> {
  const end = Date.now() + timeout;
  for (;;) {
    await act(async () => {
      await new Promise((r) => setTimeout(r, 5));
    });
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > end) throw error;
    }
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await act(async () => {
      await new Promise((r) => setTimeout(r, 0));
    });
  }
}

export const $ = <T extends Element = HTMLElement>(root: ParentNode, selector: string) => root.querySelector<T>(selector);
export const $$ = <T extends Element = HTMLElement>(root: ParentNode, selector: string) => Array.from(root.querySelectorAll<T>(selector));

export const rows = (root: ParentNode) => $$<HTMLLIElement>(root, 'li[data-id]');
export const rowIds = (root: ParentNode) => rows(root).map((li) => li.dataset.id);
export const row = (root: ParentNode, id: string) => rows(root).find((li) => li.dataset.id === id);
export const tab = (root: ParentNode, group: Group) => $<HTMLButtonElement>(root, `#tab-${group}`)!;
export const countOf = (root: ParentNode, group: Group) => tab(root, group).querySelector('.count')?.textContent;

export async function key(target: Element | Document, keyName: string): Promise<KeyboardEvent> {
  const event = new KeyboardEvent('keydown', { key: keyName, bubbles: true, cancelable: true });
  await act(() => {
    target.dispatchEvent(event);
  });
  return event;
}

export async function click(el: Element | null | undefined): Promise<void> {
  if (!el) throw new Error('nothing to click');
  await act(() => (el as HTMLElement).click());
}

export async function type(input: HTMLInputElement, text: string): Promise<void> {
  await act(() => {
    input.value = text;
    input.dispatchEvent(new Event('input', { bubbles: true }));
  });
}
