import type { Db } from './db.js';
import { SchemaTooNewError } from './errors.js';
import { CONNECT_MIGRATIONS } from './migrations-connect.js';

/**
 * Versioned schema changes, in order. Never edit a migration that has shipped: add a new one.
 *
 * Portability (for a PostgreSQL backend later): plain TEXT/INTEGER columns, times as ISO-8601 text
 * in one fixed format (see time.ts), no SQLite-only functions in queries. The only SQLite
 * spelling is `INTEGER PRIMARY KEY AUTOINCREMENT` (PostgreSQL: `BIGINT GENERATED ALWAYS AS IDENTITY`),
 * used where ids must only ever grow, also after rows are deleted.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'requests, replies (outbox), events, idempotency keys, state',
    sql: `
      -- One row per connection request Concur has shown us.
      CREATE TABLE requests (
        id                      TEXT PRIMARY KEY,
        uri                     TEXT,
        first_name              TEXT,
        middle_name             TEXT,
        last_name               TEXT,
        loyalty_number          TEXT,
        discount_code           TEXT,
        -- What the API shows: Concur's status, or the reply code once a reply was sent (until Concur's status changes).
        status                  TEXT NOT NULL,
        -- Concur's own view, as of the last poll that changed it; polls are compared against these.
        concur_status           TEXT NOT NULL,
        concur_last_modified    TEXT,
        message                 TEXT,
        user_id                 TEXT,
        -- An OAuth credential: read only by getRequestToken, never by anything that builds API shapes.
        request_token           TEXT,
        request_token_issued_at TEXT,
        -- Concur's LastModified, or when the relay saw the change when Concur gave none.
        last_modified           TEXT NOT NULL,
        first_seen_at           TEXT NOT NULL,
        updated_at              TEXT NOT NULL,
        -- CRRET replies sent.
        retries                 INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX requests_by_last_modified ON requests (last_modified, id);
      CREATE INDEX requests_by_status ON requests (status, last_modified, id);

      -- The outbox: status replies on their way to Concur, and what became of them.
      CREATE TABLE replies (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id      TEXT NOT NULL REFERENCES requests (id),
        status          TEXT NOT NULL,
        state           TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        next_attempt_at TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
      );
      CREATE INDEX replies_by_request ON replies (request_id, id);
      CREATE INDEX replies_due ON replies (state, next_attempt_at, id);
      -- At most one reply per request on its way at any time.
      CREATE UNIQUE INDEX replies_one_queued ON replies (request_id) WHERE state = 'queued';

      -- The event log behind server-sent events (Last-Event-ID) and webhooks. data is JSON.
      CREATE TABLE events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        type       TEXT NOT NULL,
        data       TEXT NOT NULL,
        created_at TEXT NOT NULL
      );

      CREATE TABLE idempotency_keys (
        key        TEXT PRIMARY KEY,
        request_id TEXT NOT NULL REFERENCES requests (id),
        body_hash  TEXT NOT NULL,
        reply_id   INTEGER NOT NULL REFERENCES replies (id),
        created_at TEXT NOT NULL
      );
      CREATE INDEX idempotency_keys_by_created_at ON idempotency_keys (created_at);

      -- Small key/value state: Concur poll state, the rotated OAuth refresh token.
      CREATE TABLE relay_state (
        key        TEXT PRIMARY KEY,
        value      TEXT,
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'webhooks, webhook secrets, deliveries, delivery attempts',
    sql: `
      -- Subscribers. events is a JSON array of webhook event types.
      CREATE TABLE webhooks (
        id              TEXT PRIMARY KEY,
        url             TEXT NOT NULL,
        events          TEXT NOT NULL,
        description     TEXT,
        state           TEXT NOT NULL,
        disabled_reason TEXT,
        -- The first failed attempt since the last success (auto-disable after a sustained failure).
        failing_since   TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
      );

      -- Signing secrets: the current one (expires_at NULL) and rotated ones still signing until expires_at.
      CREATE TABLE webhook_secrets (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        secret     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT
      );
      CREATE INDEX webhook_secrets_by_webhook ON webhook_secrets (webhook_id, id);

      -- One message on its way to one endpoint, written in the transaction of the event it reports.
      CREATE TABLE deliveries (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT NOT NULL UNIQUE,
        webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        -- The webhook-id header; the same for every endpoint that gets the same event.
        message_id      TEXT NOT NULL,
        type            TEXT NOT NULL,
        -- The exact bytes that are sent (and signed); '' when the message was too large to send.
        body            TEXT NOT NULL,
        body_bytes      INTEGER NOT NULL,
        state           TEXT NOT NULL,
        -- Attempts in all chains, and in the current chain (a resend or a recovery starts a new one).
        attempts        INTEGER NOT NULL DEFAULT 0,
        chain           INTEGER NOT NULL DEFAULT 1,
        chain_attempts  INTEGER NOT NULL DEFAULT 0,
        last_status     INTEGER,
        last_error      TEXT,
        next_attempt_at TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
      );
      CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at, seq);
      CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, seq);
      CREATE INDEX deliveries_by_webhook_state ON deliveries (webhook_id, state, next_attempt_at, seq);

      CREATE TABLE delivery_attempts (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_seq    INTEGER NOT NULL REFERENCES deliveries (seq) ON DELETE CASCADE,
        attempt         INTEGER NOT NULL,
        started_at      TEXT NOT NULL,
        status          INTEGER,
        duration_ms     INTEGER NOT NULL,
        response_body   TEXT,
        error           TEXT,
        next_attempt_at TEXT
      );
      CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_seq, attempt);
    `,
  },
  {
    version: 3,
    name: 'replies in doubt: an attempt recorded before its PUT, with what the relay knew of the request',
    sql: `
      -- Set just before a PUT goes out (and kept when it ended in a way that may have reached
      -- Concur); cleared when its outcome is stored. A queued reply with it set is in doubt: the
      -- outbox reads the request back from Concur before it sends anything again.
      ALTER TABLE replies ADD COLUMN attempt_started_at TEXT;
      -- SHA-256 (hex) of the request token the relay knew when the attempt started, never the
      -- token: an applied CRRET shows as a new token.
      ALTER TABLE replies ADD COLUMN attempt_token_sha256 TEXT;
      -- Concur's LastModified of the request as the relay knew it when the attempt started.
      ALTER TABLE replies ADD COLUMN attempt_last_modified TEXT;
      -- A reply queued by an older relay may have had a PUT in flight when it stopped: read it
      -- back first. The token's hash cannot be computed here; LastModified can be copied.
      UPDATE replies
      SET attempt_started_at = updated_at,
          attempt_last_modified = (SELECT q.concur_last_modified FROM requests q WHERE q.id = replies.request_id)
      WHERE state = 'queued';
    `,
  },
  {
    version: 4,
    name: 'API keys with names and roles, the audit trail, who asked for each reply',
    sql: `
      -- API keys as records. Never the key: its SHA-256 (keys are 32 random bytes, so a fast hash
      -- is right), looked up by that hash; the first characters are kept to tell keys apart.
      CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        role         TEXT NOT NULL,
        prefix       TEXT NOT NULL,
        key_sha256   TEXT NOT NULL UNIQUE,
        -- 'created' (API or command line) or 'env' (RELAY_API_KEYS, kept in step at every start).
        source       TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at   TEXT
      );
      CREATE INDEX api_keys_by_prefix ON api_keys (prefix);
      CREATE INDEX api_keys_by_revoked_at ON api_keys (revoked_at);

      -- Who did what. Rows are only ever added: the relay never updates or deletes one.
      CREATE TABLE audit (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        at            TEXT NOT NULL,
        actor_key_id  TEXT,
        actor_name    TEXT NOT NULL,
        action        TEXT NOT NULL,
        target        TEXT,
        details       TEXT
      );

      -- The name of the key (or 'auto') a reply was asked for by; NULL for replies from before.
      ALTER TABLE replies ADD COLUMN requested_by TEXT;
    `,
  },
  {
    version: 5,
    name: 'secrets sealed at rest: the request token kept as its SHA-256 beside the sealed token',
    sql: `
      -- request_token, webhook_secrets.secret and the rotated refresh token are sealed by the vault
      -- from now on (sealed-columns.ts); the values an older relay kept in clear are sealed when the
      -- store opens, after this, as that needs the key. The token's SHA-256 (hex) is what polls
      -- compare and what a reply in doubt keeps as evidence, so neither has to open the token; it is
      -- filled as each clear token is sealed.
      ALTER TABLE requests ADD COLUMN request_token_sha256 TEXT;
    `,
  },
  // 6 and on: the travellers' connections (migrations-connect.ts).
  ...CONNECT_MIGRATIONS,
  {
    version: 9,
    name: 'API 3.2: the traveller e-mail addresses, and the CREU replies Concur requeued',
    // e-mail addresses: a JSON array of text, email1 first ('[]': 3.0 sends none). user_errors: CREU1/2/3 sent.
    sql: `ALTER TABLE requests ADD COLUMN email_addresses TEXT NOT NULL DEFAULT '[]';
      ALTER TABLE requests ADD COLUMN user_errors INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    version: 10,
    name: 'replies: which relay works on a reply, and until when (many relays on one database)',
    // See reply-claims.ts. NULL: nobody works on it. Rows from before are unclaimed.
    sql: `ALTER TABLE replies ADD COLUMN claimed_by TEXT;
      ALTER TABLE replies ADD COLUMN lease_until TEXT;`,
  },
  {
    version: 11,
    name: 'connections: until when a relay refreshes a connection (many relays on one database)',
    // See connections.ts claimRefresh. NULL: nobody is refreshing it.
    sql: `ALTER TABLE connections ADD COLUMN refresh_claimed_until TEXT;`,
  },
  {
    version: 12,
    name: 'deliveries: which relay sends a webhook delivery, and until when (many relays on one database)',
    // See deliveries.ts `due`. NULL: nobody is sending it. Rows from before are unclaimed.
    sql: `ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
      ALTER TABLE deliveries ADD COLUMN lease_until TEXT;`,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

export interface MigrateResult {
  /** The version the file had before (0: new file). */
  from: number;
  to: number;
  applied: number[];
}

/**
 * Brings the file to the latest schema. All pending migrations run in one IMMEDIATE transaction
 * (so two processes opening the same new file cannot both apply them), each recorded in
 * schema_migrations. Opening an up-to-date file changes nothing.
 */
export function migrate(db: Db, now: () => string, migrations: readonly Migration[] = MIGRATIONS): MigrateResult {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${i} has version ${m.version}; versions must be 1, 2, 3, …`);
  });
  const known = migrations.length;

  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const current = db.prepare<[], { version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations');
  const record = db.prepare<[number, string, string]>(
    'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
  );

  const run = db.transaction((): MigrateResult => {
    const from = current.get()?.version ?? 0;
    if (from > known) throw new SchemaTooNewError(from, known);
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= from) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, now());
      applied.push(m.version);
    }
    return { from, to: Math.max(from, known), applied };
  });
  return run.immediate();
}
