/**
 * The advisory lock keys the relays of one database share (PostgreSQL's advisory locks are per
 * database, keyed by one bigint). Fixed forever: relays of different versions must agree on them.
 * The high bits spell "TLR" (TripLink Relay) so they stand out in pg_locks.
 */
export const ADVISORY_LOCK = {
  /** Held while the schema is migrated: relays starting at once migrate one after the other. */
  migrate: 0x544c_5201,
  /** Held by the one relay that polls Concur (leader.ts). */
  poller: 0x544c_5202,
  /**
   * Held by each transaction that appends events, from before it takes an id until it ends
   * (events.ts), and by each that appends to the audit trail (audit.ts).
   */
  events: 0x544c_5203,
  /** Held while RELAY_API_KEYS are synced (keys.ts): relays starting at once add each env key once. */
  envKeys: 0x544c_5221,
} as const;
