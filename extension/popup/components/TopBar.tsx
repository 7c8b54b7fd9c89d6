import { POPUP_TEXT, TEXT } from '../../lib/texts.js';
import type { LiveStatus } from '../controller.js';

interface TopBarProps {
  /** Settings are there: the live mark and (with a list on screen) Refresh make sense. */
  configured: boolean;
  live: LiveStatus;
  /** A list is on screen, so Refresh has something to refresh. */
  ready: boolean;
  loading: boolean;
  onRefresh(): void;
  onOpenOptions(): void;
}

/** The popup's header: the product's name, whether live updates are connected, Refresh and Options. */
export function TopBar({ configured, live, ready, loading, onRefresh, onOpenOptions }: TopBarProps) {
  const liveText = live === 'open' ? POPUP_TEXT.liveOn : POPUP_TEXT.liveOff;
  return (
    <header class="top">
      <h1>{TEXT.productName}</h1>
      {configured && <span class={`live live-${live}`} role="img" aria-label={liveText} title={liveText} />}
      <span class="spacer" />
      {configured && ready && (
        <button
          type="button"
          class="btn btn-icon"
          data-action="refresh"
          aria-label={POPUP_TEXT.refresh}
          title={POPUP_TEXT.refresh}
          onClick={onRefresh}
          aria-busy={loading ? 'true' : undefined}
        >
          ↻
        </button>
      )}
      <button type="button" class="btn btn-icon" aria-label={POPUP_TEXT.options} title={POPUP_TEXT.options} onClick={onOpenOptions}>
        ⚙
      </button>
    </header>
  );
}
