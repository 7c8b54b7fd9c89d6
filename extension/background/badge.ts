import { browser } from 'wxt/browser';
import type { Problem } from '../lib/problems.js';
import { BACKGROUND_TEXT, BADGE, COLOURS, PROBLEM_TEXTS } from '../lib/texts.js';

/**
 * The toolbar badge: how many requests wait for a person, in the product colour, or one problem's mark, colour and
 * tooltip. `badgeView` is pure; `applyBadge` writes it to the browser.
 */

interface BadgeView {
  text: string;
  colour: string;
  title: string;
}

/**
 * When several problems hold at once, the one the user must act on first wins. A relay problem
 * hides what Concur does (the relay is how we know), and "not configured" hides everything.
 * `relay_error` sits with the relay problems: the relay answered, but not usefully.
 */
export const PROBLEM_PRECEDENCE: readonly Problem[] = [
  'not_configured',
  'offline',
  'key_refused',
  'forbidden',
  'unreachable',
  'relay_error',
  'concur_unauthorized',
  'concur_degraded',
  // Only ever a reply's problem (the popup's row says it): the list and the count are fine.
  'exchange_unavailable',
];

/** The problem that wins (see PROBLEM_PRECEDENCE), or undefined when there is none. */
export function worstProblem(problems: ReadonlyArray<Problem | undefined | null>): Problem | undefined {
  let best: Problem | undefined;
  for (const problem of problems) {
    if (!problem) continue;
    if (best === undefined || PROBLEM_PRECEDENCE.indexOf(problem) < PROBLEM_PRECEDENCE.indexOf(best)) best = problem;
  }
  return best;
}

/** The count as the badge shows it: "" at 0, capped so it fits (1000 → "999+"). */
function badgeCount(pending: number): string {
  if (!Number.isFinite(pending) || pending <= 0) return '';
  const whole = Math.floor(pending);
  return whole > BADGE.maxCount ? BADGE.overflow : String(whole);
}

/**
 * `pending`: the requests that wait for a person (lib/attention.ts), which the badge counts;
 * `auto`: those auto-connect is handling, which only the tooltip mentions.
 */
export function badgeView(state: { problem?: Problem; pending?: number; auto?: number }): BadgeView {
  const { problem, pending, auto } = state;
  if (problem !== undefined) {
    const text = PROBLEM_TEXTS[problem];
    // Concur problems leave the relay's list usable; the tooltip still says how many wait.
    const keepsCount = problem === 'concur_unauthorized' || problem === 'concur_degraded';
    return {
      text: text.badge,
      colour: text.colour,
      title: BACKGROUND_TEXT.problemTitle(text.title, keepsCount ? pending : undefined),
    };
  }
  const count = pending ?? 0;
  return { text: badgeCount(count), colour: COLOURS.brand, title: BACKGROUND_TEXT.badgeTitle(Math.max(0, Math.floor(count)), auto) };
}

type ActionApi = {
  setBadgeText(details: { text: string }): Promise<void> | void;
  setBadgeBackgroundColor(details: { color: string }): Promise<void> | void;
  setBadgeTextColor?(details: { color: string }): Promise<void> | void;
  setTitle(details: { title: string }): Promise<void> | void;
};

/** `action` in MV3; Firefox MV2 only has `browserAction`. */
function actionApi(): ActionApi | undefined {
  const api = browser as unknown as { action?: ActionApi; browserAction?: ActionApi };
  return api.action ?? api.browserAction;
}

export async function applyBadge(view: BadgeView): Promise<void> {
  const action = actionApi();
  if (!action) return;
  await action.setBadgeBackgroundColor({ color: view.colour });
  if (typeof action.setBadgeTextColor === 'function') {
    try {
      await action.setBadgeTextColor({ color: BADGE.textColour });
    } catch {
      // older browsers: the default text colour is fine
    }
  }
  await action.setBadgeText({ text: view.text });
  await action.setTitle({ title: view.title });
}
