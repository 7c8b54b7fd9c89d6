import { defineConfig } from 'wxt';
import preact from '@preact/preset-vite';

export default defineConfig({
  srcDir: 'extension',
  // WXT's default publicDir is <root>/public, not under srcDir.
  publicDir: 'extension/public',
  manifest: ({ browser }) => ({
    name: 'TripLink Relay',
    description: 'Pending TripLink connection requests from SAP Concur, with one-click replies.',
    permissions: ['alarms', 'notifications', 'storage'],
    ...(browser === 'firefox' && {
      browser_specific_settings: {
        gecko: { id: 'triplink-relay@triplink.example', data_collection_permissions: { required: ['none'] } },
      },
    }),
  }),
  vite: () => ({ plugins: [preact()] }),
});
