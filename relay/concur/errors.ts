/**
 * Everything that can go wrong talking to Concur, as a closed set the relay can act on:
 * back off (rate_limited, unavailable, timeout), refresh or alarm (unauthorized),
 * report degraded (bad_response), give up on one request (not_found, concur_error).
 */
const CONCUR_ERROR_KINDS = [
  'unauthorized',
  'rate_limited',
  'unavailable',
  'timeout',
  'bad_response',
  'concur_error',
  'not_found',
] as const;
export type ConcurErrorKind = (typeof CONCUR_ERROR_KINDS)[number];

export interface ConcurErrorDetails {
  /** HTTP status, when Concur answered at all. */
  status?: number;
  /** Seconds Concur asked us to wait (Retry-After), when it said. */
  retryAfterSeconds?: number;
  /** Concur's own `<Error><Message>`. */
  concurMessage?: string;
  /** Concur's own `<Error><Id>`, to quote to Concur support. */
  concurId?: string;
}

export class ConcurError extends Error {
  override readonly name = 'ConcurError';
  readonly status?: number;
  readonly retryAfterSeconds?: number;
  readonly concurMessage?: string;
  readonly concurId?: string;

  constructor(
    readonly kind: ConcurErrorKind,
    message: string,
    details: ConcurErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = details.status;
    this.retryAfterSeconds = details.retryAfterSeconds;
    this.concurMessage = details.concurMessage;
    this.concurId = details.concurId;
  }

  /** Whether the same call may succeed later without anyone changing anything. */
  get transient(): boolean {
    return this.kind === 'rate_limited' || this.kind === 'unavailable' || this.kind === 'timeout';
  }
}
