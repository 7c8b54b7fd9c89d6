/**
 * Zod for the extension's bundles, configured `jitless`.
 *
 * wxt.config.ts aliases the bare specifier `zod` to this module in the extension build, so every
 * `import { z } from 'zod'` — in extension/, in shared/, in every entrypoint and every chunk —
 * goes through here, and `jitless` is set after zod itself is evaluated and before any schema is
 * built. (A side-effect import at the top of each entrypoint is not enough: the bundler puts the
 * shared schemas in a common chunk that runs before the entry's own code.)
 *
 * Why: zod 4 compiles a fast path for object schemas with `new Function` and decides whether it
 * may when each `z.object()` is constructed. Extension pages and the MV3 service worker forbid
 * eval (CSP), so zod would probe, be refused (a CSP violation report) and fall back; jitless, it
 * never tries, and no `new Function` runs at runtime. The text "new Function" stays in zod's
 * bundled code, which is why `web-ext lint` still warns DANGEROUS_EVAL (a warning, not an error).
 *
 * It imports `zod/v4` (the same module instance as `zod`), which the alias leaves alone. Tests and
 * the relay import zod directly; nothing here changes them.
 */
import { config } from 'zod/v4';

config({ jitless: true });

export * from 'zod/v4';
export { default } from 'zod/v4';
