// @vitest-environment happy-dom
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionRequest } from '../../../../shared/models.js';
import { RequestRow } from '../../../../extension/popup/components/RequestRow.js';
import { POPUP_TEXT } from '../../../../extension/lib/texts.js';
import { MIN, NOW, ago, reply, request } from '../../helpers/popup-fixtures.js';

/** One row on its own: who asked for its reply (Reply.requestedBy). */

let root: HTMLUListElement | undefined;
function clear(): void {
  if (root) render(null, root);
  root?.remove();
  root = undefined;
}
afterEach(clear);

/** Shows this row alone (in place of any shown before). */
async function show(item: ConnectionRequest): Promise<HTMLLIElement> {
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
        active
        expanded={false}
        send={undefined}
        canReply
        connectBlocked={null}
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
