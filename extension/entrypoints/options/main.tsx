import { render } from 'preact';
import { PAGE_COLOURS, TEXT } from '../../lib/texts.js';
import { OptionsPage } from '../../options/options-page.js';
import './style.css';

// The page's colours come from texts.ts (the one table); the stylesheet only refers to them.
const root = document.documentElement.style;
for (const scheme of ['light', 'dark'] as const) {
  for (const [name, value] of Object.entries(PAGE_COLOURS[scheme])) root.setProperty(`--${name}-${scheme}`, value);
}
document.title = TEXT.options.title;

render(<OptionsPage />, document.getElementById('app')!);
