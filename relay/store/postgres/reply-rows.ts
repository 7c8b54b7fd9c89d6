import type { ReplyState } from '../../../shared/models.js';
import { UnknownReplyError } from '../errors.js';
import type { EventLog } from '../index.js';
import { toApiReply, toOutboxReply, type OutboxReply, type ReplyRow } from '../mapping.js';
import { REPLY_SQL } from '../reply-sql.js';
import type { PgContext } from './context.js';
import { lockEvents } from './events.js';
import { named } from './named.js';

/** The PostgreSQL twin of reply-rows.ts: what every change of a reply does the same way. */
export interface PgReplyRows {
  /** Throws UnknownReplyError for an id the outbox does not know. */
  load(replyId: number, lock?: 'for update'): Promise<OutboxReply>;
  find(replyId: number): Promise<OutboxReply | undefined>;
  announce(reply: OutboxReply): Promise<void>;
  /**
   * Runs `change` on a reply that is in one of `states` and announces the result, in one
   * transaction; a reply in another state (settled meanwhile) is returned as it is.
   */
  change(replyId: number, states: readonly ReplyState[], change: (reply: OutboxReply, now: string) => Promise<void>): Promise<OutboxReply>;
}

export function pgReplyRows(ctx: PgContext, events: Pick<EventLog, 'append'>): PgReplyRows {
  const selectOne = named<{ id: number }>(REPLY_SQL.selectOne);

  const read = async (replyId: number, lock = ''): Promise<OutboxReply | undefined> => {
    const { rows } = await ctx.query<ReplyRow>(`${selectOne.text} ${lock}`, selectOne.bind({ id: replyId }));
    const row = rows[0];
    return row === undefined ? undefined : toOutboxReply(row);
  };
  const load = async (replyId: number, lock?: 'for update'): Promise<OutboxReply> => {
    const reply = await read(replyId, lock === undefined ? '' : 'FOR UPDATE');
    if (reply === undefined) throw new UnknownReplyError(replyId);
    return reply;
  };
  const announce = async (reply: OutboxReply): Promise<void> => {
    await events.append('reply.updated', { requestId: reply.requestId, reply: toApiReply(reply) });
  };

  return {
    load,
    find: (replyId) => read(replyId),
    announce,
    change(replyId, states, change) {
      return ctx.tx(async () => {
        // The events lock before the row's: the order every writer that appends keeps (events.ts).
        await lockEvents(ctx);
        // The row locked as it is read: the state checked is the state changed, whatever another relay does meanwhile.
        const before = await load(replyId, 'for update');
        if (!states.includes(before.state)) return before;
        await change(before, ctx.now());
        const after = await load(replyId);
        await announce(after);
        return after;
      });
    },
  };
}
