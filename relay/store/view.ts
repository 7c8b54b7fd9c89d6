/**
 * The awaitable view of the store's parts: what the relay's code depends on (see `Store` in
 * ./index.ts for why). Types only: a part satisfies its view as it is, so nothing here runs.
 */

/** What a store method answers: the value itself (SQLite) or a promise of it (a database behind a socket). */
export type Awaitable<T> = T | Promise<T>;

/**
 * Part `P` as callers see it: each method answers `Awaitable` of what it answers in `P`. The
 * methods named in `Sync` keep their signatures: registrations of listeners, which must be in
 * place when they return (a listener registered later could miss a commit), and answer nothing
 * worth waiting for.
 *
 * A method's generic parameters are lost in the mapping (their constraints stand in for them): a
 * part whose callers need one writes that method out in its view (as EventLog does `append`).
 */
export type AsyncPart<P, Sync extends keyof P = never> = {
  [K in keyof P]: K extends Sync ? P[K] : P[K] extends (...args: infer A) => infer R ? (...args: A) => Awaitable<R> : P[K];
};
