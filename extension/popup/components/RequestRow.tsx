import type { Connection } from '../../../shared/connections.js';
import type { ConnectionRequest } from '../../../shared/models.js';
import type { Group, ReplyCode } from '../../../shared/status.js';
import type { SendState } from '../state.js';
import {
  ageText,
  connectedByText,
  connectionText,
  emailText,
  loyaltyText,
  matchText,
  replyByText,
  replyChoices,
  replyInFlight,
  replyStateText,
  replyText,
  retryCountText,
  statusLabel,
  tokenInfo,
  travellerName,
  type ReplyChoice,
} from '../view.js';
import { POPUP_TEXT, TEXT } from '../../lib/texts.js';
import { memo } from './memo.js';

interface RequestRowProps {
  item: ConnectionRequest;
  /** The tab the row is shown in. */
  group: Group;
  now: number;
  /** Whether the relay asks a member directory (its summary's `autoConnect.directory`; lib/attention.ts). */
  directory: boolean;
  /** The row that holds the list's single tab stop. */
  active: boolean;
  expanded: boolean;
  send: SendState | undefined;
  canReply: boolean;
  /** Why Connected cannot be used now (view.ts connectBlocked, said above the list), or null. */
  connectBlocked: string | null;
  /** The connection made for this request, when the relay has told of one. */
  connection: Connection | undefined;
  /** How many requests the list holds, and this one's place among them (1-based): only some rows are in the DOM. */
  setSize: number;
  position: number;
  onReply(id: string, code: ReplyCode): void;
  onRetry(id: string): void;
  onToggle(id: string): void;
}

const domIds = new Map<string, number>();
/** A DOM id per request id (request ids may hold any character). */
function domId(id: string): string {
  let n = domIds.get(id);
  if (n === undefined) {
    n = domIds.size + 1;
    domIds.set(id, n);
  }
  return `req-${n}`;
}

/** The note above the list that says why Connected cannot be used (PopupApp); each such button points at it. */
export const CONNECT_NOTE_ID = 'connect-unavailable';

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

interface ReplyButtonProps {
  choice: ReplyChoice;
  id: string;
  name: string;
  primary: boolean;
  /** Another reply is being sent or is on its way. */
  busy: boolean;
  sending: boolean;
  tabbable: boolean;
  reasonId: string | undefined;
  /** Also show the status code (in the "More" group, for those who know Concur's codes). */
  showCode: boolean;
  onReply(id: string, code: ReplyCode): void;
}

function ReplyButton({ choice, id, name, primary, busy, sending, tabbable, reasonId, showCode, onReply }: ReplyButtonProps) {
  const disabled = busy || choice.disabledReason !== null;
  const text = sending ? TEXT.sending : choice.text;
  return (
    <button
      type="button"
      class={primary ? 'btn btn-primary' : 'btn'}
      data-primary={primary ? '' : undefined}
      data-code={choice.code}
      // aria-disabled, not disabled: the button keeps the focus while its reply is sent, and
      // a disabled one can still be reached to read why.
      aria-disabled={disabled ? 'true' : undefined}
      aria-describedby={reasonId}
      aria-label={POPUP_TEXT.replyAria(text, name)}
      title={choice.reasonAbove ? (choice.disabledReason ?? undefined) : choice.description}
      tabIndex={tabbable ? 0 : -1}
      onClick={() => {
        if (!disabled) onReply(id, choice.code);
      }}
    >
      {text}
      {showCode && (
        <span class="code" aria-hidden="true">
          {choice.code}
        </span>
      )}
    </button>
  );
}

/**
 * The line under a row about its reply: a send that failed here (with "Try again", unless
 * Connected would only meet the same refusal), or what the relay says of the reply it holds.
 */
function replyStateLine(
  item: ConnectionRequest,
  send: SendState | undefined,
  name: string,
  active: boolean,
  connectBlocked: string | null,
  onRetry: (id: string) => void,
) {
  if (send?.phase === 'failed') {
    const text = replyText(send.code);
    // Sending Connected again would meet the same refusal: the note above says what must change.
    const retry = send.code === 'CRSUC' && connectBlocked !== null ? null : (
      <button
        type="button"
        class="btn btn-small"
        data-retry=""
        aria-label={POPUP_TEXT.retryAria(text, name)}
        tabIndex={active ? 0 : -1}
        onClick={() => onRetry(item.id)}
      >
        {TEXT.retry}
      </button>
    );
    return (
      <div class="reply-state reply-error">
        <span>{POPUP_TEXT.sendFailed(text, send.error ?? '')}</span>
        {retry}
      </div>
    );
  }
  if (send?.phase === 'sending') return null;
  const said = replyStateText(item.reply);
  if (said === null) return null;
  return (
    <div class={said.error ? 'reply-state reply-error' : 'reply-state'} data-reply-state={item.reply?.state}>
      {said.text}
    </div>
  );
}

function RequestRowView(props: RequestRowProps) {
  const { item, group, now, directory, active, expanded, send, canReply, connectBlocked, connection, setSize, position, onReply, onRetry, onToggle } = props;
  const base = domId(item.id);
  const name = travellerName(item);
  const token = group === 'pending' ? tokenInfo(item, now) : ({ state: 'none' } as const);
  const hasToken = token.state !== 'none';
  const choices = canReply ? replyChoices(item, now, connectBlocked) : null;
  const reply = item.reply;
  // Who connected it, once there is a connection; a new reply on its way speaks for itself.
  const by = connection !== undefined && !replyInFlight(reply) ? connectedByText(connection, now) : replyByText(reply, now);
  const held = connection === undefined ? null : connectionText(connection, now);
  // Auto-connect: why it waits for a person (the directory's answer), or that the relay is on it.
  const matched = group === 'pending' && !replyInFlight(reply) ? matchText(item, directory) : null;
  const emails = emailText(item);
  // A connected request has nothing left to spend; the others say what was spent once anything was.
  const spent = group === 'connected' ? null : retryCountText(item, false);
  const sending = send?.phase === 'sending';
  const busy = sending || replyInFlight(reply);

  const stateLine = replyStateLine(item, send, name, active, connectBlocked, onRetry);

  const button = (showCode: boolean) => (choice: ReplyChoice) => {
    const reasonId = choice.disabledReason === null ? undefined : choice.reasonAbove ? CONNECT_NOTE_ID : `${base}-why-${choice.code}`;
    return [
      <ReplyButton
        key={choice.code}
        choice={choice}
        id={item.id}
        name={name}
        primary={choice.code === choices?.primary}
        busy={busy}
        sending={sending && send?.code === choice.code}
        tabbable={active}
        reasonId={reasonId}
        showCode={showCode}
        onReply={onReply}
      />,
      reasonId === undefined || choice.reasonAbove ? null : (
        <span key={`${choice.code}-why`} id={reasonId} class="why">
          {choice.disabledReason}
        </span>
      ),
    ];
  };

  return (
    <li
      class={`row${token.state === 'warning' ? ' row-warning' : ''}${token.state === 'expired' ? ' row-expired' : ''}`}
      data-id={item.id}
      tabIndex={active ? 0 : -1}
      aria-setsize={setSize}
      aria-posinset={position}
      aria-labelledby={`${base}-name`}
      aria-describedby={`${base}-meta${emails ? ` ${base}-emails` : ''}${matched ? ` ${base}-match` : ''}${by ? ` ${base}-by` : ''}${held ? ` ${base}-conn` : ''}${hasToken ? ` ${base}-token` : ''}${stateLine ? ` ${base}-state` : ''}`}
    >
      <div class="row-top">
        <span class="name" id={`${base}-name`}>
          {name}
        </span>
        <time class="age" dateTime={item.lastModified} title={dateFormat.format(Date.parse(item.lastModified))}>
          {ageText(item.lastModified, now)}
        </time>
      </div>
      <div class="row-meta" id={`${base}-meta`}>
        <span class="loyalty">{loyaltyText(item)}</span>
        <span class="status" title={item.status}>
          {statusLabel(item)}
        </span>
        {spent && <span class="retries">{spent}</span>}
      </div>
      {emails && (
        <div class="emails" id={`${base}-emails`} title={emails.title}>
          {emails.text}
        </div>
      )}
      {matched && (
        <div class={matched.auto ? 'match match-auto' : 'match'} id={`${base}-match`} data-match={item.match?.result ?? 'asking'}>
          {matched.text}
        </div>
      )}
      {by && (
        <div class="reply-by" id={`${base}-by`} title={by}>
          {by}
        </div>
      )}
      {held && connection && (
        <div
          class={`connection connection-${connection.state}${held.broken ? ' connection-broken' : ''}`}
          id={`${base}-conn`}
          data-connection={connection.state}
          title={held.text}
        >
          {held.text}
        </div>
      )}
      {stateLine && <div id={`${base}-state`}>{stateLine}</div>}
      {(choices || hasToken) && (
        <div class={choices?.expired ? 'actions actions-wide' : 'actions'}>
          {hasToken && (
            <span class={`token token-${token.state}`} id={`${base}-token`}>
              {token.text}
            </span>
          )}
          {choices?.inline.map(button(false))}
          {choices && (
            <button
              type="button"
              class="btn btn-more"
              aria-expanded={expanded ? 'true' : 'false'}
              aria-controls={`${base}-more`}
              aria-label={POPUP_TEXT.moreRepliesAria(name)}
              tabIndex={active ? 0 : -1}
              onClick={() => onToggle(item.id)}
            >
              {POPUP_TEXT.moreReplies}
              <span class="chevron" aria-hidden="true" />
            </button>
          )}
        </div>
      )}
      {choices && expanded && (
        <div class="more" id={`${base}-more`} role="group" aria-label={POPUP_TEXT.moreRepliesAria(name)}>
          {/* Beside the replies that spend it: how much of Concur's allowance is left. */}
          <div class="counts">{retryCountText(item, true)}</div>
          {choices.more.map(button(true))}
        </div>
      )}
    </li>
  );
}

export const RequestRow = memo(RequestRowView);
