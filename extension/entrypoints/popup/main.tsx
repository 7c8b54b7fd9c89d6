import { bootPopup } from '../../popup/boot.js';
import './style.css';
import './list.css';

// First, before anything else loads: the settings, the live-events stream and the lists
// (popup/boot.ts). This chunk holds nothing else; the popup itself comes with the import below,
// and uses what was started here.
const prefetcher = bootPopup();

void import('./app.js').then(({ start }) => start(prefetcher));
