import { render } from 'preact';
import { PopupApp } from '../../popup/components/PopupApp.js';
import type { Prefetcher } from '../../popup/boot.js';
import { createPopupController } from '../../popup/controller.js';
import { popupDepsWith } from '../../popup/deps.js';

/** The popup: its data starts before the first render, so the relay is asked while Preact draws. */
export function start(prefetcher: Prefetcher): void {
  const deps = popupDepsWith(prefetcher);
  const controller = createPopupController(deps);
  render(<PopupApp deps={deps} controller={controller} />, document.getElementById('app')!);
}
