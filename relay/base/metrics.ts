import type { ConcurErrorKind } from '../concur/errors.js';
import type { Deliveries, Replies, Requests } from '../store/index.js';

/**
 * Counters for what only happens in memory (polls, SSE connections). Everything the store knows
 * (requests by group, replies by state) is read from it at scrape time instead of being counted twice.
 */
export class Metrics {
  polls = 0;
  readonly pollErrors = new Map<ConcurErrorKind | 'internal', number>();
  readonly replyAttempts = new Map<'sent' | 'failed' | 'retry', number>();
  sseClients = 0;
  readonly webhookAttempts = new Map<'succeeded' | 'failed' | 'retry', number>();

  recordPoll(error?: ConcurErrorKind | 'internal'): void {
    this.polls++;
    if (error) this.pollErrors.set(error, (this.pollErrors.get(error) ?? 0) + 1);
  }

  recordReplyAttempt(outcome: 'sent' | 'failed' | 'retry'): void {
    this.replyAttempts.set(outcome, (this.replyAttempts.get(outcome) ?? 0) + 1);
  }

  recordWebhookAttempt(outcome: 'succeeded' | 'failed' | 'retry'): void {
    this.webhookAttempts.set(outcome, (this.webhookAttempts.get(outcome) ?? 0) + 1);
  }

  /** Prometheus text exposition format 0.0.4. */
  render(store: {
    requests: Pick<Requests, 'counts'>;
    replies: Pick<Replies, 'counts'>;
    deliveries?: Pick<Deliveries, 'counts'>;
  }): string {
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[string, number]>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    metric('triplink_polls_total', 'counter', 'Polls of Concur started.', [['', this.polls]]);
    metric(
      'triplink_poll_errors_total',
      'counter',
      'Polls of Concur that failed, by error kind.',
      [...this.pollErrors].map(([kind, n]) => [`{kind="${kind}"}`, n]),
    );
    metric(
      'triplink_reply_attempts_total',
      'counter',
      'PUTs of status replies to Concur, by outcome.',
      [...this.replyAttempts].map(([outcome, n]) => [`{outcome="${outcome}"}`, n]),
    );
    metric(
      'triplink_replies',
      'gauge',
      'Status replies by state.',
      Object.entries(store.replies.counts()).map(([state, n]) => [`{state="${state}"}`, n]),
    );
    metric(
      'triplink_requests',
      'gauge',
      'Connection requests by group.',
      Object.entries(store.requests.counts()).map(([group, n]) => [`{group="${group}"}`, n]),
    );
    metric(
      'triplink_webhook_attempts_total',
      'counter',
      'Webhook delivery attempts, by outcome (retry: failed, will be tried again).',
      [...this.webhookAttempts].map(([outcome, n]) => [`{outcome="${outcome}"}`, n]),
    );
    if (store.deliveries !== undefined) {
      metric(
        'triplink_webhook_deliveries',
        'gauge',
        'Webhook deliveries by state (failed ones stay until recovered or pruned after 30 days).',
        Object.entries(store.deliveries.counts()).map(([state, n]) => [`{state="${state}"}`, n]),
      );
    }
    metric('triplink_sse_clients', 'gauge', 'Connected server-sent-event clients.', [['', this.sseClients]]);
    return `${lines.join('\n')}\n`;
  }
}
