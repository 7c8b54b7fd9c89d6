// @vitest-environment happy-dom
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../../../shared/connections.js';
import type { ConnectionRequest } from '../../../../shared/models.js';
import { RequestRow } from '../../../../extension/popup/components/RequestRow.js';
import { POPUP_TEXT } from '../../../../extension/lib/texts.js';
import { MIN, NOW, ago, connection, reply, request } from '../../helpers/popup-fixtures.js';

/** One row on its own: who asked for its reply (Reply.requestedBy), and its connection's state. */

let root: HTMLUListElement | undefined;
function clear(): void {
  if (root) render(null, root);
  root?.remove();
  root = undefined;
}
afterEach(clear);

/** Shows this row alone (in place of any shown before). */
async function show(item: ConnectionRequest, held?: Connection, directory = false, expanded = false): Promise<HTMLLIElement> {
  clear();
  root = document.createElement('ul');
  document.body.append(root);
  const none = () => undefined;
  await act(() =>
    render(
      <RequestRow
        item={item}
        group={item.group}
        now={NOW}
        directory={directory}
        active
        expanded={expanded}
        send={undefined}
        canReply
        connectBlocked={null}
        connection={held}
        setSize={1}
        position={1}
        onReply={none}
        onRetry={none}
        onToggle={none}
      />,
      root!,
    ),
  );
  return root.querySelector('li')!;
}

const connected = (by: string | null) =>
  request({ status: 'CRSUC', reply: reply('CRSUC', { state: 'sent', attempts: 1, requestedBy: by, updatedAt: ago(2 * MIN) }) });

describe('a row with a reply', () => {
  it('says who asked for it, and a screen reader hears it with the row', async () => {
    const li = await show(connected('Alice'));
    const by = li.querySelector<HTMLElement>('.reply-by')!;
    expect(by.textContent).toBe('Connected by Alice · 2 min ago');
    expect(li.getAttribute('aria-describedby')?.split(' ')).toContain(by.id);
  });

  it('a reply on its way names its sender too, beside the state line', async () => {
    const li = await show(request({ reply: reply('CRRET', { requestedBy: 'Bob', updatedAt: new Date(NOW).toISOString() }) }));
    expect(li.querySelector('.reply-by')?.textContent).toBe('“Ask for a new token” by Bob · just now');
    expect(li.querySelector('.reply-state')?.textContent).toBe(POPUP_TEXT.queued('Ask for a new token', 0, null));
  });

  it('auto-connect is "automatically"; an unknown sender (older replies) and no reply show nothing', async () => {
    expect((await show(connected('auto'))).querySelector('.reply-by')?.textContent).toBe('Connected automatically · 2 min ago');
    const unknown = await show(connected(null));
    expect(unknown.querySelector('.reply-by')).toBeNull();
    expect(unknown.getAttribute('aria-describedby')).not.toContain('-by');
    expect((await show(request())).querySelector('.reply-by')).toBeNull();
  });
});

describe('a row with a connection', () => {
  const describedBy = (li: HTMLElement) => li.getAttribute('aria-describedby')?.split(' ') ?? [];

  it('active: says so, and who connected it (from the connection, even for a reply from before names were kept)', async () => {
    const r = connected(null);
    const li = await show(r, connection(r, { connectedBy: 'Alice', connectedAt: ago(5 * MIN) }));
    const line = li.querySelector<HTMLElement>('.connection')!;
    expect(line.dataset.connection).toBe('active');
    expect(line.textContent).toBe(POPUP_TEXT.connection.active(null, null));
    expect(line.className).not.toContain('connection-broken');
    expect(li.querySelector('.reply-by')?.textContent).toBe('Connected by Alice · 5 min ago');
    expect(describedBy(li)).toEqual(expect.arrayContaining([line.id, li.querySelector('.reply-by')!.id]));
  });

  it('auto-connect: "Connected automatically"; a refreshed one says when', async () => {
    const r = connected('auto');
    const li = await show(r, connection(r, { connectedBy: 'auto', connectedAt: ago(60 * MIN), lastRefreshedAt: ago(3 * MIN) }));
    expect(li.querySelector('.reply-by')?.textContent).toBe('Connected automatically · 1 h ago');
    expect(li.querySelector('.connection')?.textContent).toBe('Connection active · tokens refreshed 3 min ago');
  });

  it('a refresh that failed and will be tried again is still active, and says why', async () => {
    const r = connected('Alice');
    const li = await show(r, connection(r, { lastError: 'Concur answered 503' }));
    expect(li.querySelector('.connection')?.textContent).toBe(POPUP_TEXT.connection.active(null, 'Concur answered 503'));
    expect(li.querySelector('.connection')?.className).not.toContain('connection-broken');
  });

  it('refresh failed for good: "connection broken: the traveller must connect again", as an error, with Concur’s reason', async () => {
    const r = connected('Alice');
    const li = await show(r, connection(r, { state: 'refresh_failed', lastError: 'invalid_grant' }));
    const line = li.querySelector<HTMLElement>('.connection')!;
    expect(line.dataset.connection).toBe('refresh_failed');
    expect(line.textContent).toBe('Connection broken: the traveller must connect again (invalid_grant)');
    expect(line.className).toContain('connection-broken');
    expect(describedBy(li)).toContain(line.id);
  });

  it('revoked: says the tokens were erased', async () => {
    const r = connected('Alice');
    const li = await show(r, connection(r, { state: 'revoked' }));
    expect(li.querySelector<HTMLElement>('.connection')?.dataset.connection).toBe('revoked');
    expect(li.querySelector('.connection')?.textContent).toBe(POPUP_TEXT.connection.revoked);
  });

  it('without a connection the row is as before; a new reply on its way names its own sender', async () => {
    const r = connected('Alice');
    expect((await show(r)).querySelector('.connection')).toBeNull();
    const again = { ...r, reply: reply('CRSUC', { state: 'exchanging', requestedBy: 'Bob', updatedAt: ago(0) }) };
    const li = await show(again, connection(r, { state: 'refresh_failed', connectedBy: 'Alice' }));
    expect(li.querySelector('.reply-by')?.textContent).toBe('Connected by Bob · just now');
    expect(li.querySelector<HTMLElement>('.connection')?.dataset.connection).toBe('refresh_failed');
  });
});

describe('a pending row and auto-connect', () => {
  const describedBy = (li: HTMLElement) => li.getAttribute('aria-describedby')?.split(' ') ?? [];
  const pending = (over: Partial<ConnectionRequest>) => request({ status: 'Pending', firstSeenAt: ago(MIN), ...over });

  it('says why it waits for a person (the directory’s answer), heard with the row, and keeps its reply buttons', async () => {
    const li = await show(pending({ match: { result: 'not_found', note: null, at: ago(MIN) } }), undefined, true);
    const line = li.querySelector<HTMLElement>('.match')!;
    expect(line.textContent).toBe('directory: not found');
    expect(line.dataset.match).toBe('not_found');
    expect(describedBy(li)).toContain(line.id);
    expect(li.querySelector('[data-primary]')?.getAttribute('aria-disabled')).toBeNull();
  });

  it('a new request the directory has yet to answer says "auto-connecting…"; without a directory it says nothing', async () => {
    const fresh = pending({ firstSeenAt: ago(3_000) });
    expect((await show(fresh, undefined, true)).querySelector('.match-auto')?.textContent).toBe(POPUP_TEXT.askingDirectory);
    expect((await show(fresh, undefined, false)).querySelector('.match')).toBeNull();
  });

  it('an auto reply on its way: "auto-connecting…" in place of the answer, and the buttons wait for it', async () => {
    const li = await show(
      pending({ match: { result: 'member', note: null, at: ago(MIN) }, reply: reply('CRSUC', { state: 'exchanging', requestedBy: 'auto' }) }),
      undefined,
      true,
    );
    expect(li.querySelector('.match')).toBeNull();
    expect(li.querySelector('.reply-state')?.textContent).toBe('auto-connecting…');
    expect(li.querySelector('[data-code="CRSUC"]')?.getAttribute('aria-disabled')).toBe('true');
  });
});

describe('a row under API 3.2: the traveller’s e-mail addresses and Concur’s retry allowance', () => {
  const describedBy = (li: HTMLElement) => li.getAttribute('aria-describedby')?.split(' ') ?? [];
  const v32 = (over: Partial<ConnectionRequest> = {}) =>
    request({ status: 'Pending', retryLimit: 48, userErrorLimit: 4, userId: 'u-1', emailAddresses: ['ada@example.com', 'ada@work.example'], ...over });

  it('shows the addresses on a line of their own (all of them in the tooltip), heard with the row', async () => {
    const li = await show(v32());
    const line = li.querySelector<HTMLElement>('.emails')!;
    expect(line.textContent).toBe('ada@example.com, ada@work.example');
    expect(line.title).toBe('E-mail: ada@example.com, ada@work.example');
    expect(describedBy(li)).toContain(line.id);
  });

  it('without addresses (API 3.0 sends none) there is no line, and nothing for a screen reader', async () => {
    const li = await show(request({ status: 'Pending' }));
    expect(li.querySelector('.emails')).toBeNull();
    expect(describedBy(li).some((id) => id.endsWith('-emails'))).toBe(false);
  });

  it('says what was spent on the row once anything was, in the meta line', async () => {
    expect((await show(v32())).querySelector('.retries')).toBeNull();
    const li = await show(v32({ retries: 2 }));
    expect(li.querySelector('.row-meta .retries')?.textContent).toBe('2 of 48 retries used · 0 of 4 loyalty-number replies used');
    // 3.0 limits CRRET only (a CREU fails the request for good there).
    expect((await show(request({ status: 'Pending', retries: 1 }))).querySelector('.retries')?.textContent).toBe('1 of 5 retries used');
    // A connected request has nothing left to spend.
    expect((await show(v32({ status: 'CRSUC', retries: 2 }))).querySelector('.retries')).toBeNull();
  });

  it('the "More" group always says the allowance, above the replies that spend it', async () => {
    const li = await show(v32(), undefined, false, true);
    const more = li.querySelector<HTMLElement>('.more')!;
    expect(more.firstElementChild?.className).toBe('counts');
    expect(more.querySelector('.counts')?.textContent).toBe('0 of 48 retries used · 0 of 4 loyalty-number replies used');
  });

  it('with the CREU allowance spent, those replies are disabled with the reason (the relay would answer 409)', async () => {
    const li = await show(v32({ userErrors: 4 }), undefined, false, true);
    for (const code of ['CREU1', 'CREU2', 'CREU3']) {
      const button = li.querySelector<HTMLElement>(`[data-code="${code}"]`)!;
      expect(button.getAttribute('aria-disabled')).toBe('true');
      const why = li.querySelector(`#${button.getAttribute('aria-describedby')!}`);
      expect(why?.textContent).toBe(POPUP_TEXT.userErrorLimit(4, 4));
    }
    expect(li.querySelector('[data-code="CRRET"]')?.getAttribute('aria-disabled')).toBeNull();
  });
});
