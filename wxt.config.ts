import { fileURLToPath } from 'node:url';
import { defineConfig } from 'wxt';
import preact from '@preact/preset-vite';

/**
 * `zod/mini` (what shared/ and the extension use) and classic `zod` in the extension's bundles:
 * zod configured jitless before any schema exists (see extension/lib/zod-jitless.ts). Exact
 * matches only: the modules import `zod/v4/mini`, `zod/v4/core` and `zod/v4`, which stay as they are.
 */
const ZOD_JITLESS = [
  { find: /^zod\/mini$/, replacement: fileURLToPath(new URL('./extension/lib/zod-jitless.ts', import.meta.url)) },
  { find: /^zod$/, replacement: fileURLToPath(new URL('./extension/lib/zod-jitless-classic.ts', import.meta.url)) },
];

const ICONS = { 16: 'icon/16.png', 32: 'icon/32.png', 48: 'icon/48.png', 128: 'icon/128.png' };
/** The toolbar button: its tooltip until the background sets one (count or problem). */
const TOOLBAR = { default_title: 'TripLink Relay', default_icon: { 16: ICONS[16], 32: ICONS[32] } };
/** Host access is optional: asked for the relay's host when the options are saved, never up front. */
const RELAY_HOSTS = ['http://*/*', 'https://*/*'];

export default defineConfig({
  srcDir: 'extension',
  // WXT's default publicDir is <root>/public, not under srcDir.
  publicDir: 'extension/public',
  manifest: ({ browser, manifestVersion }) => ({
    name: 'TripLink Relay',
    description: 'Pending TripLink connection requests from SAP Concur, with one-click replies.',
    permissions: ['alarms', 'notifications', 'storage'],
    // MV3: optional_host_permissions. MV2 (Firefox's default build) has no such key: host
    // patterns go in optional_permissions there (WXT drops optional_host_permissions for MV2).
    ...(manifestVersion === 3 ? { optional_host_permissions: RELAY_HOSTS } : { optional_permissions: RELAY_HOSTS }),
    icons: ICONS,
    // WXT adds default_popup from the popup entrypoint. MV2 is spelled out: WXT writes the popup
    // into browser_action before converting `action`, so an `action` key would be dropped there.
    ...(manifestVersion === 3 ? { action: TOOLBAR } : { browser_action: TOOLBAR }),
    ...(browser === 'firefox' && {
      browser_specific_settings: {
        gecko: { id: 'triplink-relay@triplink.example', data_collection_permissions: { required: ['none'] } },
      },
    }),
  }),
  vite: () => ({
    plugins: [preact()],
    resolve: { alias: ZOD_JITLESS },
  }),
});
