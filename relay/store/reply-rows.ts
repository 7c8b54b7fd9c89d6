import type { ReplyState } from '../../shared/models.js';
import type { StoreContext } from './context.js';
import { UnknownReplyError } from './errors.js';
import type { EventLog } from './events.js';
import { toApiReply, toOutboxReply, type OutboxReply, type ReplyRow } from './mapping.js';
import { REPLY_SQL } from './reply-sql.js';

/**
 * What every change of a reply does the same way (replies.ts, reply-exchange.ts): read it back,
 * and announce it as a `reply.updated` event in the same transaction.
 */
export interface ReplyRows {
  /** Throws UnknownReplyError for an id the outbox does not know. */
  load(replyId: number): OutboxReply;
  find(replyId: number): OutboxReply | undefined;
  announce(reply: OutboxReply): void;
  /**
   * Runs `change` on a reply that is in one of `states` and announces the result, in one
   * transaction; a reply in another state (settled meanwhile) is returned as it is.
   */
  change(replyId: number, states: readonly ReplyState[], change: (reply: OutboxReply, now: string) => void): OutboxReply;
}

export function replyRows(ctx: StoreContext, events: Pick<EventLog, 'append'>): ReplyRows {
  const selectOne = ctx.db.prepare<[{ id: number }], ReplyRow>(REPLY_SQL.selectOne);

  const find = (replyId: number): OutboxReply | undefined => {
    const row = selectOne.get({ id: replyId });
    return row === undefined ? undefined : toOutboxReply(row);
  };
  const load = (replyId: number): OutboxReply => {
    const reply = find(replyId);
    if (reply === undefined) throw new UnknownReplyError(replyId);
    return reply;
  };
  const announce = (reply: OutboxReply): void => {
    events.append('reply.updated', { requestId: reply.requestId, reply: toApiReply(reply) });
  };

  return {
    load,
    find,
    announce,
    change(replyId, states, change) {
      return ctx.tx(() => {
        const before = load(replyId);
        if (!states.includes(before.state)) return before;
        change(before, ctx.now());
        const after = load(replyId);
        announce(after);
        return after;
      });
    },
  };
}
