import { beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { applyBadge, badgeView, PROBLEM_PRECEDENCE, worstProblem } from '../../../extension/background/badge';
import { PROBLEMS, type Problem } from '../../../extension/lib/problems';
import { BACKGROUND_TEXT, BADGE, COLOURS, PROBLEM_TEXTS } from '../../../extension/lib/texts';

beforeEach(() => {
  fakeBrowser.reset();
  vi.restoreAllMocks();
});

describe('badgeView: the count', () => {
  it.each([
    [0, ''],
    [1, '1'],
    [42, '42'],
    [999, '999'],
    [1000, BADGE.overflow],
    [123_456, BADGE.overflow],
  ])('%i pending → %j in the product colour', (pending, text) => {
    const view = badgeView({ pending });
    expect(view.text).toBe(text);
    expect(view.text.length).toBeLessThanOrEqual(4);
    expect(view.colour).toBe(COLOURS.brand);
    expect(view.title).toBe(BACKGROUND_TEXT.badgeTitle(pending));
  });

  it('no count at all is an empty badge', () => {
    expect(badgeView({})).toEqual({ text: '', colour: COLOURS.brand, title: BACKGROUND_TEXT.badgeTitle(0) });
  });

  it('counts what waits for a person; what auto-connect is handling is only said in the tooltip', () => {
    const view = badgeView({ pending: 2, auto: 5 });
    expect(view.text).toBe('2');
    expect(view.title).toBe('TripLink Relay: 2 pending connection requests (and 5 being connected automatically)');
    expect(badgeView({ pending: 0, auto: 1 })).toMatchObject({ text: '', title: 'TripLink Relay: no pending connection requests (and 1 being connected automatically)' });
  });

  it('says "request" for one and "requests" for more', () => {
    expect(badgeView({ pending: 1 }).title).toMatch(/1 pending connection request$/);
    expect(badgeView({ pending: 2 }).title).toMatch(/2 pending connection requests$/);
  });
});

describe('badgeView: problems', () => {
  it.each(PROBLEMS.map((p) => [p]))('%s → its mark, colour and tooltip from texts.ts', (problem: Problem) => {
    const view = badgeView({ problem, pending: 7 });
    const text = PROBLEM_TEXTS[problem];
    expect(view.text).toBe(text.badge);
    expect(view.text.length).toBeGreaterThan(0);
    expect(view.text.length).toBeLessThanOrEqual(4);
    expect(view.colour).toBe(text.colour);
    expect(view.title.startsWith(text.title)).toBe(true);
  });

  it('Concur problems keep the last known count in the tooltip; relay problems do not', () => {
    expect(badgeView({ problem: 'concur_degraded', pending: 3 }).title).toContain('3 pending');
    expect(badgeView({ problem: 'concur_unauthorized', pending: 1 }).title).toContain('1 pending');
    expect(badgeView({ problem: 'unreachable', pending: 3 }).title).toBe(PROBLEM_TEXTS.unreachable.title);
    expect(badgeView({ problem: 'concur_degraded' }).title).toBe(PROBLEM_TEXTS.concur_degraded.title);
  });

  it('every problem has a place in the precedence', () => {
    expect([...PROBLEM_PRECEDENCE].sort()).toEqual([...PROBLEMS].sort());
  });

  it('the problem the user must act on first wins', () => {
    expect(worstProblem(['concur_degraded', 'not_configured', 'offline'])).toBe('not_configured');
    expect(worstProblem(['concur_degraded', 'offline', 'key_refused'])).toBe('offline');
    expect(worstProblem(['unreachable', 'key_refused'])).toBe('key_refused');
    expect(worstProblem(['concur_unauthorized', 'unreachable'])).toBe('unreachable');
    expect(worstProblem(['concur_degraded', 'concur_unauthorized'])).toBe('concur_unauthorized');
    expect(worstProblem([undefined, null])).toBeUndefined();
  });
});

describe('applyBadge', () => {
  it('writes text, colour and tooltip to browser.action', async () => {
    await applyBadge(badgeView({ pending: 12 }));
    expect(await fakeBrowser.action.getBadgeText({})).toBe('12');
    expect(await fakeBrowser.action.getTitle({})).toBe(BACKGROUND_TEXT.badgeTitle(12));
    expect(await fakeBrowser.action.getBadgeBackgroundColor({})).toEqual([0x1f, 0x6f, 0xeb, 255]);

    await applyBadge(badgeView({ problem: 'key_refused' }));
    expect(await fakeBrowser.action.getBadgeText({})).toBe(PROBLEM_TEXTS.key_refused.badge);
    expect(await fakeBrowser.action.getTitle({})).toBe(PROBLEM_TEXTS.key_refused.title);
  });

  it('uses browserAction where there is no action (Firefox MV2)', async () => {
    const calls: string[] = [];
    const browserAction = {
      setBadgeText: async ({ text }: { text: string }) => void calls.push(`text:${text}`),
      setBadgeBackgroundColor: async ({ color }: { color: string }) => void calls.push(`colour:${color}`),
      setTitle: async ({ title }: { title: string }) => void calls.push(`title:${title}`),
    };
    const original = fakeBrowser.action;
    const target = fakeBrowser as unknown as { action?: unknown; browserAction?: unknown };
    const originalBrowserAction = target.browserAction;
    target.action = undefined;
    target.browserAction = browserAction;
    try {
      await applyBadge(badgeView({ pending: 2 }));
    } finally {
      target.action = original;
      target.browserAction = originalBrowserAction;
    }
    expect(calls).toEqual([`colour:${COLOURS.brand}`, 'text:2', `title:${BACKGROUND_TEXT.badgeTitle(2)}`]);
  });
});
