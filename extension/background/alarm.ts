import { browser } from 'wxt/browser';

/**
 * The one periodic alarm that keeps the badge current while the service worker sleeps. It is
 * created once (on install/startup, and on a wake that finds it missing or different) and never
 * recreated on each cycle, which would push it back forever (notifier-for-github#233).
 * Chrome's packed extensions allow 30 s at the least.
 */
export const REFRESH_ALARM = 'refresh';
export const REFRESH_PERIOD_MINUTES = 0.5;

/** True when the alarm had to be (re)created. */
export async function ensureRefreshAlarm(): Promise<boolean> {
  const existing = await browser.alarms.get(REFRESH_ALARM);
  if (existing && existing.periodInMinutes === REFRESH_PERIOD_MINUTES) return false;
  await browser.alarms.create(REFRESH_ALARM, {
    delayInMinutes: REFRESH_PERIOD_MINUTES,
    periodInMinutes: REFRESH_PERIOD_MINUTES,
  });
  return true;
}
