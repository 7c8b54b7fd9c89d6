// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { PROBLEMS, RelayProblem } from '../../../../extension/lib/problems.js';
import { realPopupDeps } from '../../../../extension/popup/deps.js';
import { PROBLEM_TEXTS, TEXT } from '../../../../extension/lib/texts.js';
import { MIN, NOW, ago, fakeClient, fakeLive, inFuture, request, summaryOf, testDeps } from '../../helpers/popup-fixtures.js';
import { $, $$, click, countOf, mount, rowIds, rows, settle, tab, type, unmountAll, waitFor } from '../../helpers/popup-dom.js';

beforeEach(() => fakeBrowser.reset());
afterEach(() => unmountAll());

describe('popup states', () => {
  it('shows loading until the relay answers', async () => {
    let release!: () => void;
    const client = fakeClient([request()]);
    const gate = new Promise<void>((r) => (release = r));
    const summary = client.summary;
    client.summary = async () => {
      await gate;
      return summary();
    };
    const { root } = await mount(testDeps(client));
    await settle();
    expect($(root, '.state-loading')?.textContent).toContain(TEXT.loading);
    expect(rows(root)).toHaveLength(0);
    release();
    await waitFor(() => expect(rows(root)).toHaveLength(1));
  });

  it('unconfigured (real storage, nothing saved): explains and opens the options', async () => {
    const open = vi.spyOn(fakeBrowser.runtime, 'openOptionsPage').mockResolvedValue(undefined);
    const { root } = await mount({ ...testDeps(fakeClient([])), loadSettings: realPopupDeps.loadSettings, openOptions: realPopupDeps.openOptions });
    await waitFor(() => expect($(root, '.state-unconfigured')).not.toBeNull());
    expect(root.textContent).toContain(PROBLEM_TEXTS.not_configured.message);
    await click($(root, '.state-unconfigured button'));
    expect(open).toHaveBeenCalledTimes(1);
  });

  it('a saved configuration replaces the unconfigured state without reopening the popup', async () => {
    const { settingsItem } = await import('../../../../extension/lib/settings.js');
    const client = fakeClient([request()]);
    const { root } = await mount({
      ...testDeps(client),
      loadSettings: realPopupDeps.loadSettings,
      watchSettings: realPopupDeps.watchSettings,
    });
    await waitFor(() => expect($(root, '.state-unconfigured')).not.toBeNull());
    await settingsItem.setValue({ relayUrl: 'http://127.0.0.1:8787', apiKey: 'k', notifications: true });
    await waitFor(() => expect(rows(root)).toHaveLength(1));
  });

  for (const problem of PROBLEMS.filter((p) => p !== 'not_configured' && !p.startsWith('concur_'))) {
    it(`error "${problem}": says what is wrong, and "Try again" loads again`, async () => {
      const client = fakeClient([request()]);
      client.fail = new RelayProblem(problem, problem === 'relay_error' ? 'database is locked' : undefined);
      const { root } = await mount(testDeps(client));
      await waitFor(() => expect($(root, '.state-error')).not.toBeNull());
      expect($(root, '.state-error')?.dataset.problem).toBe(problem);
      expect(root.textContent).toContain(PROBLEM_TEXTS[problem].message);
      if (problem === 'relay_error') expect(root.textContent).toContain('database is locked');
      client.fail = null;
      await click($(root, '.state-error [data-action="retry"]'));
      await waitFor(() => expect(rows(root)).toHaveLength(1));
      expect($(root, '.state-error')).toBeNull();
    });
  }

  it('a key the relay refuses also offers the options', async () => {
    const client = fakeClient([]);
    client.fail = new RelayProblem('key_refused');
    const deps = testDeps(client);
    const { root } = await mount(deps);
    await waitFor(() => expect($(root, '.state-error')).not.toBeNull());
    await click($(root, '.state-error [data-action="options"]'));
    expect(deps.openOptions).toHaveBeenCalled();
  });

  for (const [state, problem] of [
    ['unauthorized', 'concur_unauthorized'],
    ['degraded', 'concur_degraded'],
  ] as const) {
    it(`Concur ${state}: a banner above the list says so`, async () => {
      const items = [request()];
      const client = fakeClient(items, summaryOf(items, { state, lastError: 'HTTP 503 from Concur' }));
      const { root } = await mount(testDeps(client));
      await waitFor(() => expect(rows(root)).toHaveLength(1));
      const banner = $(root, `.banner[data-problem="${problem}"]`);
      expect(banner?.textContent).toContain(PROBLEM_TEXTS[problem].message);
      expect(banner?.textContent).toContain('HTTP 503 from Concur');
    });
  }

  it('a failed refresh keeps the list and shows the problem with a retry', async () => {
    const client = fakeClient([request()]);
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    client.fail = new RelayProblem('unreachable');
    await click($(root, '[data-action="refresh"]'));
    await waitFor(() => expect($(root, '.banner[data-problem="unreachable"]')).not.toBeNull());
    expect(rows(root)).toHaveLength(1);
    client.fail = null;
    await click($(root, '.banner [data-action="retry"]'));
    await waitFor(() => expect($(root, '.banner[data-problem="unreachable"]')).toBeNull());
  });

  for (const group of ['pending', 'failed', 'connected'] as const) {
    it(`empty ${group} tab says so in its own words`, async () => {
      const { root } = await mount(testDeps(fakeClient([])));
      await waitFor(() => expect($(root, '[role="tablist"]')).not.toBeNull());
      await click(tab(root, group));
      expect($(root, '.empty')?.textContent).toBe(TEXT.empty[group]);
      expect(countOf(root, group)).toBe('0');
    });
  }
});

describe('popup list', () => {
  it('shows the counts on the tabs and the requests newest first', async () => {
    const items = [
      request({ lastModified: ago(30 * MIN) }),
      request({ lastModified: ago(2 * MIN) }),
      request({ lastModified: ago(10 * MIN) }),
      request({ status: 'CREU1' }),
      request({ status: 'CRSUC' }),
      request({ status: 'Connected' }),
    ];
    const summary = summaryOf(items);
    summary.counts.connected = 40; // the relay knows of more than one page; the tab shows its count
    const { root } = await mount(testDeps(fakeClient(items, summary)));
    await waitFor(() => expect(rows(root)).toHaveLength(3));
    expect(countOf(root, 'pending')).toBe('3');
    expect(countOf(root, 'failed')).toBe('1');
    expect(countOf(root, 'connected')).toBe('40');
    expect(rowIds(root)).toEqual([items[1]!.id, items[2]!.id, items[0]!.id]);
    expect(tab(root, 'pending').getAttribute('aria-selected')).toBe('true');
    expect($(root, '[role="tabpanel"]')?.getAttribute('aria-labelledby')).toBe('tab-pending');
    await click(tab(root, 'connected'));
    expect(rows(root)).toHaveLength(2);
    expect(tab(root, 'connected').getAttribute('aria-selected')).toBe('true');
  });

  it('shows name, loyalty number, status label, age and the token time of a pending request', async () => {
    const r = request({
      firstName: 'Zoë',
      middleName: '',
      lastName: 'Ångström',
      loyaltyNumber: 'FF-778899',
      status: 'Processing',
      lastModified: ago(3 * MIN),
      requestTokenExpiresAt: inFuture(12 * MIN),
    });
    const { root } = await mount(testDeps(fakeClient([r])));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    const li = rows(root)[0]!;
    expect($(li, '.name')?.textContent).toBe('Zoë Ångström');
    expect($(li, '.loyalty')?.textContent).toBe('Loyalty FF-778899');
    expect($(li, '.status')?.textContent).toBe('Concur generated the request token');
    expect($(li, '.age')?.textContent).toBe('3 min ago');
    expect($(li, '.token')?.textContent).toBe('token: 12 min left');
    expect($(li, '.token')?.className).toContain('token-ok');
    expect($(li, '[data-primary]')?.textContent).toBe('Connected');
  });

  it('warns when a token has under 5 minutes left', async () => {
    const r = request({ requestTokenExpiresAt: inFuture(4 * MIN) });
    const { root } = await mount(testDeps(fakeClient([r])));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    expect($(root, '.token')?.className).toContain('token-warning');
    expect($(root, '.token')?.textContent).toBe('token: 4 min left');
    expect(rows(root)[0]!.className).toContain('row-warning');
  });

  it('an expired token says so and puts the useful replies first', async () => {
    const r = request({ firstName: 'Ida', lastName: 'Ek', requestTokenExpiresAt: ago(MIN) });
    const { root } = await mount(testDeps(fakeClient([r])));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    expect($(root, '.token')?.textContent).toBe(TEXT.tokenExpired);
    const inline = $$(root, '.actions [data-code]');
    expect(inline.map((b) => b.dataset.code)).toEqual(['CRRET', 'CRPA1']);
    expect($(root, '[data-primary]')?.dataset.code).toBe('CRRET');
    await click($(root, '.btn-more'));
    expect($$(root, '.more [data-code]').map((b) => b.dataset.code)).toEqual(['CRSUC', 'CREU1', 'CREU2', 'CREU3', 'CRPA2']);
  });

  it('with Concur’s retries used up, the new-token reply is disabled with the reason', async () => {
    const r = request({ requestTokenExpiresAt: ago(MIN), retries: 5 });
    const client = fakeClient([r]);
    const { root } = await mount(testDeps(client));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    const crret = $(root, '[data-code="CRRET"]')!;
    expect(crret.getAttribute('aria-disabled')).toBe('true');
    const why = root.querySelector(`#${crret.getAttribute('aria-describedby')}`);
    expect(why?.textContent).toContain('5');
    expect($(root, '[data-primary]')?.dataset.code).toBe('CRPA1');
    await click(crret);
    expect(client.replyCalls).toHaveLength(0);
  });

  it('every reply button names the traveller', async () => {
    const r = request({ firstName: 'Zoë', middleName: null, lastName: 'Ångström' });
    const { root } = await mount(testDeps(fakeClient([r])));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await click($(root, '.btn-more'));
    const buttons = $$(rows(root)[0]!, 'button');
    expect(buttons.length).toBe(1 + 1 + 6);
    for (const b of buttons) expect(b.getAttribute('aria-label')).toContain('Zoë Ångström');
  });

  it('shows 1,000 requests (a window of them in the DOM), and searching finds one far down', async () => {
    const items = Array.from({ length: 1000 }, (_, i) =>
      request({ firstName: i === 700 ? 'Zoë' : `Traveller${i}`, lastName: 'Test', lastModified: ago(i * 1000) }),
    );
    const mark = vi.spyOn(performance, 'mark');
    const { root } = await mount(testDeps(fakeClient(items)));
    await waitFor(() => expect(countOf(root, 'pending')).toBe('1000'), 10_000);
    await waitFor(() => expect(mark).toHaveBeenCalledWith('popup:first-render'));
    expect(rows(root).length).toBeGreaterThan(5);
    expect(rows(root).length).toBeLessThan(40);
    expect(rowIds(root)).toEqual(items.slice(0, rows(root).length).map((r) => r.id));
    expect(rows(root).every((li) => li.getAttribute('aria-setsize') === '1000')).toBe(true);
    await type($<HTMLInputElement>(root, 'input[type="search"]')!, 'zoe');
    expect(rowIds(root)).toEqual([items[700]!.id]);
    expect(rows(root)[0]!.getAttribute('aria-setsize')).toBe('1');
    expect($(root, '.matches')?.textContent).toBe('1 of 1000 shown');
  });
});

describe('popup search', () => {
  const zoe = () => request({ firstName: 'Zoë', lastName: 'Ångström', loyaltyNumber: '4455 6677' });
  const bob = () => request({ firstName: 'Bob', lastName: 'Smith', loyaltyNumber: '11223344' });

  it('finds "zoe" in "Zoë", loyalty numbers by digits, and says when nothing matches', async () => {
    const z = zoe();
    const b = bob();
    const { root } = await mount(testDeps(fakeClient([z, b])));
    await waitFor(() => expect(rows(root)).toHaveLength(2));
    const input = $<HTMLInputElement>(root, 'input[type="search"]')!;
    await type(input, 'ZOE');
    expect(rowIds(root)).toEqual([z.id]);
    expect($(root, '.matches')?.textContent).toBe('1 of 2 shown');
    await type(input, '44556677');
    expect(rowIds(root)).toEqual([z.id]);
    await type(input, '2233');
    expect(rowIds(root)).toEqual([b.id]);
    await type(input, 'nobody');
    expect(rows(root)).toHaveLength(0);
    expect($(root, '.empty')?.textContent).toBe(TEXT.noMatch('nobody'));
  });

  it('searches the current tab only', async () => {
    const z = zoe();
    const failedZoe = request({ firstName: 'Zoe', lastName: 'Other', status: 'CREU2' });
    const { root } = await mount(testDeps(fakeClient([z, failedZoe])));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    await type($<HTMLInputElement>(root, 'input[type="search"]')!, 'zoe');
    expect(rowIds(root)).toEqual([z.id]);
    await click(tab(root, 'failed'));
    expect(rowIds(root)).toEqual([failedZoe.id]);
  });
});

describe('popup live updates', () => {
  it('a created request appears, and a summary event updates the counts', async () => {
    const a = request();
    const live = fakeLive();
    const { root } = await mount(testDeps(fakeClient([a]), { followEvents: live.follow }));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    const b = request({ firstName: 'New', lastModified: new Date(NOW).toISOString() });
    await live.emit('request.created', b);
    expect(rowIds(root)).toEqual([b.id, a.id]);
    await live.emit('summary', summaryOf([a, b]));
    expect(countOf(root, 'pending')).toBe('2');
    await live.emit('request.updated', { ...a, status: 'CREU3', group: 'failed', lastModified: new Date(NOW).toISOString() });
    expect(rowIds(root)).toEqual([b.id]);
    await live.emit('summary', summaryOf([b, { ...a, group: 'failed' }]));
    expect(countOf(root, 'failed')).toBe('1');
  });

  it('shows whether live updates are connected', async () => {
    const live = fakeLive();
    const { root } = await mount(testDeps(fakeClient([request()]), { followEvents: live.follow }));
    await waitFor(() => expect(rows(root)).toHaveLength(1));
    expect($(root, '.live')?.className).not.toContain('live-open');
    await live.open();
    expect($(root, '.live')?.className).toContain('live-open');
  });
});
