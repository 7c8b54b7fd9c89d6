import type { HttpBindings } from '@hono/node-server';
import { z } from 'zod';
import type { ReplyCode } from '../../shared/status.js';
import type { AuthState } from './auth.js';
import type { CallLog } from './calls.js';
import type { AdjustableClock } from './clock.js';
import type { FaultBook } from './faults.js';
import type { ConcurVersion, StatusCase } from './format/index.js';
import type { SandboxState } from './state.js';
import type { UserTokens } from './users.js';

/** Behind @hono/node-server the env carries the raw request; with `app.request()` there is none. */
export type SandboxEnv = { Bindings: Partial<HttpBindings> };

/** Ways the sandbox can deviate from the tidy default, as the seed and Swagger do. */
export interface Quirks {
  /** List bodies as in the seed's examples: bare `<ConnectionRequest>` roots, no wrapper, no NextPage. */
  bareRoot: boolean;
  /** Status spelling in bodies: `Pending` (as-is), `pending` (the seed), `PENDING` (Swagger's default). */
  statusCase: StatusCase;
  /** Write this version's field names whatever the path says; null = the path's version. */
  version: ConcurVersion | null;
  /** A `limit` above the maximum is clamped (default) or refused with 400 (undocumented either way). */
  overLimit: 'clamp' | 'reject';
  /**
   * A PUT that repeats the reply which made a request Connected or Failed: refused with 400
   * (default) or accepted with 204, changing nothing. Concur does not document which; the relay
   * must send each reply once whichever it is.
   */
  repeatReplies: 'refuse' | 'accept';
  /**
   * `expires_in` of the OAuth 2.0 token answers: apidoc writes a string (`"3600"`), the migration
   * guide a number. null (default): the app's grants as apidoc, the travellers' as the guide.
   */
  expiresIn: 'string' | 'number' | null;
  /**
   * The legacy refresh's answer: `echo` (default) hands back the (unchanging) Refresh_Token like the
   * exchange does; `omit` leaves it out, as the pre-2017 doc's table of the refresh answer does.
   */
  legacyRefreshToken: 'echo' | 'omit';
  /** `DELETE /app-mgmt/v0/connections`: 200 as apidoc's example shows (default), or 204. */
  appMgmtDeleteStatus: 200 | 204;
  /**
   * How long a request token lives: `15m` (default: the seed, the legacy exchange, 3.2's Swagger) or
   * `24h` (3.2's page: "Request tokens are generated upon GET and expire after 24h").
   */
  requestTokenLifetime: '15m' | '24h';
  /**
   * 3.2's page: "Request tokens are generated upon GET". true: every 3.2 list hands out a new token
   * for each request on its page, and the one before stops working. Default false (one token per issue).
   */
  tokenOnGet: boolean;
  /**
   * When a request becomes Processing. `token` (default, the seed's Example 4: "set to processing
   * after Concur has generated the request token"): once a GET (a list or by id) has handed its
   * request token out; `exchange`: only when that token is exchanged (the sandbox's older reading).
   */
  processing: 'token' | 'exchange';
}

export const DEFAULT_QUIRKS: Readonly<Quirks> = {
  bareRoot: false,
  statusCase: 'as-is',
  version: null,
  overLimit: 'clamp',
  repeatReplies: 'refuse',
  expiresIn: null,
  legacyRefreshToken: 'echo',
  appMgmtDeleteStatus: 200,
  requestTokenLifetime: '15m',
  tokenOnGet: false,
  processing: 'token',
};

export const QuirksPatch = z
  .object({
    bareRoot: z.boolean().optional(),
    statusCase: z.enum(['as-is', 'lower', 'upper']).optional(),
    version: z.enum(['3.0', '3.2']).nullable().optional(),
    overLimit: z.enum(['clamp', 'reject']).optional(),
    repeatReplies: z.enum(['refuse', 'accept']).optional(),
    expiresIn: z.enum(['string', 'number']).nullable().optional(),
    legacyRefreshToken: z.enum(['echo', 'omit']).optional(),
    appMgmtDeleteStatus: z.union([z.literal(200), z.literal(204)]).optional(),
    requestTokenLifetime: z.enum(['15m', '24h']).optional(),
    tokenOnGet: z.boolean().optional(),
    processing: z.enum(['token', 'exchange']).optional(),
  })
  .strict();
export type QuirksPatch = z.infer<typeof QuirksPatch>;

/** Ends hanging requests: on the client's abort, or when the sandbox closes. */
export class Lifecycle {
  #closed = false;
  readonly #waiters = new Set<() => void>();

  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves when `signal` aborts or the sandbox closes; never otherwise. */
  hang(signal?: AbortSignal): Promise<void> {
    if (this.#closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        this.#waiters.delete(done);
        resolve();
      };
      signal?.addEventListener('abort', done, { once: true });
      this.#waiters.add(done);
    });
  }

  get hanging(): number {
    return this.#waiters.size;
  }

  close(): void {
    this.#closed = true;
    for (const done of [...this.#waiters]) done();
  }
}

/** What a partner's PUT did, as the sandbox applied it. */
export interface AppliedReply {
  requestId: string;
  status: ReplyCode;
  /** A repeat that `repeatReplies: 'accept'` let through without changing anything. */
  repeated: boolean;
}

/**
 * In-process hooks for tests (functions, so not in the control API). They survive a reset.
 */
export interface SandboxHooks {
  /**
   * Called once a PUT has been applied, before its 204 is written; the answer waits for the
   * promise. A test can kill its client here: Concur has the reply, the client never hears so.
   */
  onReplyApplied?: (reply: AppliedReply) => void | Promise<void>;
}

export interface SandboxContext {
  state: SandboxState;
  hooks: SandboxHooks;
  auth: AuthState;
  /** The travellers' tokens (legacy exchange and password grant). */
  users: UserTokens;
  faults: FaultBook;
  calls: CallLog;
  quirks: Quirks;
  clock: AdjustableClock;
  lifecycle: Lifecycle;
  /** The largest `limit` (Swagger: 10). */
  maxLimit: number;
  reset(options?: { seed?: boolean | number }): void;
  info(): Record<string, unknown>;
}
