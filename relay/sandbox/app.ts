import { Hono } from 'hono';
import { AuthState, type Credentials } from './auth.js';
import { CallLog } from './calls.js';
import { type AdjustableClock, type Clock, adjustable, isoTime } from './clock.js';
import {
  DEFAULT_QUIRKS,
  Lifecycle,
  type Quirks,
  type SandboxContext,
  type SandboxEnv,
  type SandboxHooks,
} from './context.js';
import { registerConcurRoutes } from './concur-routes.js';
import { controlRoutes } from './control.js';
import { DemoDirectory, directoryRoutes } from './directory.js';
import { FaultBook } from './faults.js';
import { concurErrorResponse, negotiate, routingPath } from './http.js';
import { randomSeed, uuid } from './random.js';
import { SandboxState } from './state.js';
import { UserTokens } from './users.js';
import { REQUEST_TOKEN_TTL_MS } from '../../shared/status.js';

export interface SandboxOptions {
  /** The sandbox's clock. A ManualClock is advanced directly by `POST /_sandbox/clock`; any other gets an offset. */
  clock?: Clock;
  /** Seed the queue with realistic pending requests: true (default) = 12, false = none, or how many. */
  seed?: boolean | number;
  /** PRNG seed for generated data (IDs, travellers, request tokens). Random when not given. */
  random?: number;
  /** Demo mode: a new pending request every `everyMs` (a real timer, unref'd, stopped by close()). */
  demo?: { everyMs: number };
  /** Lifetime of OAuth-issued access tokens, in seconds of sandbox time (default 3600). */
  accessTokenTtlSeconds?: number;
  /** The static access token (never expires). Generated when not given. */
  staticAccessToken?: string;
  /** OAuth client credentials and first refresh token. Generated when not given. */
  clientId?: string;
  clientSecret?: string;
  refreshToken?: string;
  /** The largest page (Swagger: 10). */
  maxLimit?: number;
  /** What a `limit` above maxLimit gets: 'clamp' (default) or 'reject' (400). */
  overLimit?: 'clamp' | 'reject';
  /** Quirks to start with (and to go back to on reset). */
  quirks?: Partial<Quirks>;
  /** In-process test hooks (see SandboxHooks); also settable later on `Sandbox.hooks`. */
  hooks?: SandboxHooks;
  /** Generated IDs: 28 characters as 3.0 shows them (default), or GUIDs as 3.2 does. */
  ids?: 'legacy' | 'guid';
  /** The demo member directory (`POST /_sandbox/directory`), checking signatures with `secret` (`whsec_…`). Off when not given. */
  directory?: { secret: string };
}

export interface Sandbox {
  app: Hono<SandboxEnv>;
  state: SandboxState;
  clock: AdjustableClock;
  auth: AuthState;
  /** The travellers' tokens the sandbox issued (see `GET /_sandbox/users`). */
  users: UserTokens;
  credentials: Credentials;
  faults: FaultBook;
  calls: CallLog;
  /** The live quirks object; change it directly or with `PUT /_sandbox/quirks`. */
  quirks: Quirks;
  /** The live hooks object: set or clear a hook at any time. */
  hooks: SandboxHooks;
  /** The demo member directory (directory.ts) and the calls it got. */
  directory: DemoDirectory;
  /** The PRNG seed in use (give it back as `random` to get the same data). */
  randomSeed: number;
  /** Back to the start: reseeded queue, no calls, faults or quirks; issued credentials (the app's and the travellers') stay valid. */
  reset(options?: { seed?: boolean | number }): void;
  /** Stops the demo timer and ends hanging requests. The HTTP server, if any, is startSandbox's to close. */
  close(): void;
}

export const DEFAULT_SEED_COUNT = 12;

function seedCount(seed: boolean | number | undefined): number {
  if (seed === undefined || seed === true) return DEFAULT_SEED_COUNT;
  if (seed === false) return 0;
  if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`seed must be a boolean or a whole number ≥ 0, not ${seed}`);
  return seed;
}

export function createSandbox(options: SandboxOptions = {}): Sandbox {
  const clock = adjustable(options.clock);
  const seed = options.random ?? randomSeed();
  const initialCount = seedCount(options.seed);
  const initialQuirks: Quirks = { ...DEFAULT_QUIRKS, overLimit: options.overLimit ?? 'clamp', ...options.quirks };
  const maxLimit = options.maxLimit ?? 10;
  if (!Number.isInteger(maxLimit) || maxLimit < 1) throw new RangeError(`maxLimit must be a whole number ≥ 1, not ${maxLimit}`);
  if (options.demo && !(options.demo.everyMs >= 10)) throw new RangeError('demo.everyMs must be at least 10');

  const quirks: Quirks = { ...initialQuirks };
  const lifetime = () => (quirks.requestTokenLifetime === '24h' ? 24 * 60 * 60 * 1000 : REQUEST_TOKEN_TTL_MS);
  const state = new SandboxState(clock, seed, options.ids, lifetime);
  state.seed(initialCount);
  const auth = new AuthState(clock, options);
  const users = new UserTokens(clock);
  const faults = new FaultBook();
  const calls = new CallLog();
  const lifecycle = new Lifecycle();
  const hooks: SandboxHooks = { ...options.hooks };
  const directory = new DemoDirectory(options.directory?.secret);

  const ctx: SandboxContext = {
    state,
    hooks,
    auth,
    users,
    faults,
    calls,
    quirks,
    clock,
    lifecycle,
    maxLimit,
    reset(resetOptions = {}) {
      state.clear();
      state.seed(resetOptions.seed === undefined ? initialCount : seedCount(resetOptions.seed));
      calls.clear();
      directory.clear();
      faults.clear();
      Object.assign(quirks, initialQuirks);
      auth.restoreStatic();
    },
    info() {
      return {
        now: isoTime(clock.now()),
        randomSeed: seed,
        requests: state.size,
        quirks,
        faults: faults.list().length,
        calls: calls.list().length,
        maxLimit,
        accessTokenTtlSeconds: auth.accessTokenTtlSeconds,
        userGrants: users.size,
        demo: options.demo ?? null,
      };
    },
  };

  const app = new Hono<SandboxEnv>({ getPath: routingPath });
  app.use(async (c, next) => {
    await next();
    c.header('Concur-Correlationid', uuid());
  });
  registerConcurRoutes(app, ctx);
  app.route('/_sandbox/directory', directoryRoutes(directory, state));
  app.route('/_sandbox', controlRoutes(ctx));
  app.notFound((c) => {
    if (c.req.path.startsWith('/_sandbox')) {
      return c.json({ error: { code: 'not_found', message: `No control route ${c.req.method} ${c.req.path}.` } }, 404);
    }
    return concurErrorResponse(404, 'The requested resource was not found.', negotiate(c.req.header('accept')), clock.now());
  });
  app.onError((err, c) => {
    console.error('[sandbox] unexpected error:', err);
    if (c.req.path.startsWith('/_sandbox')) {
      return c.json({ error: { code: 'internal', message: 'The sandbox failed to handle this call.' } }, 500);
    }
    return concurErrorResponse(500, 'An internal error occurred.', negotiate(c.req.header('accept')), clock.now());
  });

  let demoTimer: NodeJS.Timeout | undefined;
  if (options.demo) {
    demoTimer = setInterval(() => state.add(), options.demo.everyMs);
    demoTimer.unref();
  }

  return {
    app,
    state,
    clock,
    auth,
    users,
    credentials: auth.credentials,
    faults,
    calls,
    quirks,
    hooks,
    directory,
    randomSeed: seed,
    reset: (resetOptions) => ctx.reset(resetOptions),
    close() {
      if (demoTimer) clearInterval(demoTimer);
      demoTimer = undefined;
      lifecycle.close();
    },
  };
}
