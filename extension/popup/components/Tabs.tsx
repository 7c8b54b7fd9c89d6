import { useRef } from 'preact/hooks';
import type { Counts } from '../../../shared/models.js';
import { GROUPS, type Group } from '../../../shared/status.js';
import { POPUP_TEXT, TEXT } from '../../lib/texts.js';

/** The tab a key moves to from `tab` (←/→ wrap around, Home/End), or undefined. */
function tabFor(key: string, tab: Group): Group | undefined {
  const index = GROUPS.indexOf(tab);
  return key === 'ArrowRight'
    ? GROUPS[(index + 1) % GROUPS.length]
    : key === 'ArrowLeft'
      ? GROUPS[(index + GROUPS.length - 1) % GROUPS.length]
      : key === 'Home'
        ? GROUPS[0]
        : key === 'End'
          ? GROUPS[GROUPS.length - 1]
          : undefined;
}

/** The three groups as tabs with their counts: one tab stop, arrow keys move between them. */
export function Tabs({ tab, counts, onSelect }: { tab: Group; counts: Counts; onSelect(group: Group): void }) {
  const tabRefs = useRef<Partial<Record<Group, HTMLButtonElement | null>>>({});

  const selectTab = (group: Group, focus: boolean) => {
    onSelect(group);
    if (focus) tabRefs.current[group]?.focus();
  };

  const onTabKey = (e: KeyboardEvent) => {
    const to = tabFor(e.key, tab);
    if (to === undefined) return;
    e.preventDefault();
    selectTab(to, true);
  };

  return (
    <div class="tabs" role="tablist" aria-label={POPUP_TEXT.tabsLabel} onKeyDown={onTabKey}>
      {GROUPS.map((group) => (
        <button
          key={group}
          ref={(el) => {
            tabRefs.current[group] = el;
          }}
          type="button"
          role="tab"
          id={`tab-${group}`}
          class={`tab tab-${group}`}
          aria-selected={group === tab ? 'true' : 'false'}
          aria-controls={`panel-${group}`}
          tabIndex={group === tab ? 0 : -1}
          onClick={() => selectTab(group, false)}
        >
          {TEXT.tabs[group]} <span class="count">{counts[group]}</span>
        </button>
      ))}
    </div>
  );
}
