/**
 * When a connection's tokens are refreshed next. Two rules, the earlier wins:
 *
 * - before the access token expires, with a margin: 10 minutes or a tenth of its lifetime,
 *   whichever is longer (a back office asking for a token then finds one with time left, and a
 *   refresh that fails once still has time for another try);
 * - at least once a day, whatever the token's lifetime: a legacy access token lives a year, but a
 *   grant that is used keeps proving it is alive, and Concur's OAuth 2.0 refresh tokens lapse after
 *   six months unused.
 *
 * The time is then drawn at random from the last fifth of the wait, so connections made together
 * (10,000 at midnight after a bulk import) drift apart and are not all refreshed in the same
 * minute, and each refresh draws again: they spread further every time.
 */

export const REFRESH_MARGIN_MS = 10 * 60_000;
export const AT_LEAST_EVERY_MS = 24 * 60 * 60_000;
/** The share of the wait a refresh may come early by. */
const SPREAD = 0.2;
/**
 * The shortest wait: a token Concur hands out already (nearly) expired, or with a lifetime under
 * the margin, must not turn the refresher into a loop of refreshes.
 */
export const MIN_WAIT_MS = 60_000;

export interface TokenLifetimes {
  accessTokenExpiresAt: string;
  refreshTokenExpiresAt: string | null;
}

/** Epoch ms of the next refresh of tokens received at `now`. */
export function nextRefreshAt(tokens: TokenLifetimes, now: number, random: () => number = Math.random): number {
  const latest = Math.min(
    beforeExpiry(Date.parse(tokens.accessTokenExpiresAt), now),
    tokens.refreshTokenExpiresAt === null ? Infinity : beforeExpiry(Date.parse(tokens.refreshTokenExpiresAt), now),
    now + AT_LEAST_EVERY_MS,
  );
  // An unreadable time counts as "now": the refresh is as early as it may be.
  const wait = Number.isFinite(latest) ? latest - now : 0;
  return Math.round(now + Math.max(MIN_WAIT_MS, wait * (1 - SPREAD * unit(random()))));
}

/** The latest good time to refresh a token that expires at `expiresAt`. */
function beforeExpiry(expiresAt: number, now: number): number {
  const lifetime = expiresAt - now;
  // Never more than half the lifetime: a short-lived token is refreshed half-way, not at once.
  const margin = Math.min(Math.max(REFRESH_MARGIN_MS, lifetime / 10), lifetime / 2);
  return expiresAt - margin;
}

function unit(value: number): number {
  return Number.isNaN(value) ? 0.5 : Math.min(1, Math.max(0, value));
}
