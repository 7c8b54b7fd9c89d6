import { z } from 'zod';

/**
 * Injected failures. A fault matches calls to one route (or any); `times` counts down per call it
 * hits and the fault disappears at zero; without `times` it lasts until cleared. With `ratio` it
 * hits only that share of its matching calls, spread evenly and the same on every run: the n-th
 * matching call is hit when ⌊n·ratio⌋ grows (0.3 → calls 4, 7, 10, 14, 17, 20, …), so a test gets
 * "30 % of PUTs fail" without a random source. Latency faults add up and then let the call go on;
 * of the other kinds, the first fault that hits decides the answer.
 */

/**
 * `token` is all of the token machinery: the OAuth 2.0 endpoint, the legacy exchange and refresh,
 * and both revocations. `refresh` is only refreshes (either form, the app's or a traveller's);
 * `revoke` only revocations; `user` the traveller's User API.
 */
export const FAULT_ROUTES = ['list', 'get', 'put', 'token', 'refresh', 'revoke', 'user', 'any'] as const;
/** `limit400` and `deadlock400`: the two 400s Concur's status-code page calls temporary (the request limit; a database deadlock, "resend the request a short time later"). */
export const FAULT_KINDS = ['status503', 'status429', 'latency', 'malformed', 'error200', 'hang', 'reset', 'limit400', 'deadlock400'] as const;

export const FaultSpec = z
  .object({
    route: z.enum(FAULT_ROUTES),
    kind: z.enum(FAULT_KINDS),
    times: z.number().int().min(1).optional(),
    retryAfterSeconds: z.number().int().min(0).max(86_400).optional(),
    latencyMs: z.number().int().min(0).max(120_000).optional(),
    ratio: z.number().gt(0).max(1).optional(),
  })
  .strict();
export type FaultSpec = z.infer<typeof FaultSpec>;
export type FaultKind = FaultSpec['kind'];

/**
 * The routes a call can be on: `token` the OAuth 2.0 endpoint, `exchange` the legacy
 * getaccesstoken.ashx (exchange and refresh), `revoke` the legacy revoketoken.ashx and app-mgmt's
 * DELETE, `user` the traveller's User API.
 */
export type CallRoute = 'list' | 'get' | 'put' | 'token' | 'exchange' | 'revoke' | 'user';

export interface Fault extends FaultSpec {
  id: number;
  /** Calls still to hit; null = until cleared. */
  remaining: number | null;
  hits: number;
  /** Matching calls seen, hit or not (what `ratio` counts). */
  seen: number;
}

export const DEFAULT_LATENCY_MS = 1000;
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

export interface FaultPlan {
  /** Total delay to add before answering. */
  latencyMs: number;
  /** The fault that decides the answer, if any. */
  terminal: Fault | null;
  /** Every fault that this call consumed. */
  applied: Fault[];
}

function routeMatches(faultRoute: FaultSpec['route'], route: CallRoute, refresh: boolean): boolean {
  switch (faultRoute) {
    case 'any':
      return true;
    case 'token':
      return route === 'token' || route === 'exchange' || route === 'revoke';
    case 'refresh':
      return refresh && (route === 'token' || route === 'exchange');
    default:
      return faultRoute === route;
  }
}

export class FaultBook {
  #faults: Fault[] = [];
  #nextId = 1;

  add(spec: FaultSpec): Fault {
    const fault: Fault = { ...spec, id: this.#nextId++, remaining: spec.times ?? null, hits: 0, seen: 0 };
    this.#faults.push(fault);
    return fault;
  }

  list(): Fault[] {
    return this.#faults.map((fault) => ({ ...fault }));
  }

  clear(): number {
    const count = this.#faults.length;
    this.#faults = [];
    return count;
  }

  /** Works out what happens to one call on `route` (a refresh, or not), consuming one of each fault it uses. */
  take(route: CallRoute, options: { refresh?: boolean } = {}): FaultPlan {
    const plan: FaultPlan = { latencyMs: 0, terminal: null, applied: [] };
    for (const fault of this.#faults) {
      if (!routeMatches(fault.route, route, options.refresh ?? false)) continue;
      if (!this.#hits(fault)) continue;
      if (fault.kind === 'latency') {
        plan.latencyMs += fault.latencyMs ?? DEFAULT_LATENCY_MS;
      } else if (plan.terminal === null) {
        plan.terminal = fault;
      } else {
        continue;
      }
      plan.applied.push(fault);
    }
    for (const fault of plan.applied) {
      fault.hits++;
      if (fault.remaining !== null) fault.remaining--;
    }
    this.#faults = this.#faults.filter((fault) => fault.remaining === null || fault.remaining > 0);
    return plan;
  }

  /** Counts a matching call; whether the fault takes it (always, without a ratio). */
  #hits(fault: Fault): boolean {
    fault.seen++;
    if (fault.ratio === undefined) return true;
    return Math.floor(fault.seen * fault.ratio) > Math.floor((fault.seen - 1) * fault.ratio);
  }
}
