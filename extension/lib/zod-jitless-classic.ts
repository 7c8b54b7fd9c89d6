/**
 * Classic `zod` for the extension's bundles, configured `jitless`: what wxt.config.ts aliases the
 * bare specifier `zod` to. The extension and shared/ use `zod/mini` (./zod-jitless.ts explains
 * both the alias and jitless); this keeps the same guarantee should anything there import classic
 * zod. It imports `zod/v4` (the same module instance as `zod`), which the alias leaves alone.
 */
import { config } from 'zod/v4';

config({ jitless: true });

export * from 'zod/v4';
export { default } from 'zod/v4';
