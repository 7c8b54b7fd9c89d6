/**
 * `zod/mini` for the extension's bundles, configured `jitless`.
 *
 * wxt.config.ts aliases the bare specifier `zod/mini` to this module in the extension build, so
 * every `import * as z from 'zod/mini'` — in extension/, in shared/, in every entrypoint and every
 * chunk — goes through here, and `jitless` is set after zod itself is evaluated and before any
 * schema is built. (A side-effect import at the top of each entrypoint is not enough: the bundler
 * puts the shared schemas in a common chunk that runs before the entry's own code.) Classic `zod`
 * is aliased the same way, to ./zod-jitless-classic.ts, should extension code ever import it.
 *
 * Why: zod 4 can compile a fast path for object schemas with `new Function`, and decides whether
 * it may when each object schema is constructed. Extension pages and the MV3 service worker forbid
 * eval (CSP), so zod would probe, be refused (a CSP violation report) and fall back; jitless, it
 * never tries, and no `new Function` runs at runtime. zod/mini's objects do not compile today, but
 * the setting is global and cheap, and it keeps the guarantee whatever builds a schema here.
 *
 * Why mini: the extension only parses the relay's answers with the shared models; mini's
 * functional API lets the bundler keep only what those models use (classic zod's methods all
 * come along with the first schema). shared/ is written in zod/mini for this reason.
 *
 * It imports `zod/v4/mini` and `zod/v4/core` (the same module instances as `zod/mini` and zod's
 * core), which the alias leaves alone. Tests and the relay import zod directly; nothing here
 * changes them.
 */
import { config } from 'zod/v4/core';

config({ jitless: true });

export * from 'zod/v4/mini';
