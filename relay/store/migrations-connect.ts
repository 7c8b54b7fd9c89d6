import type { Migration } from './migrations.js';

/**
 * The migrations that came with connecting travellers (issues 14 and 15): the connections table,
 * a CRSUC's exchange, and auto-connect's matches. They follow migrations.ts's list (a file of
 * their own only to keep each file short); the same rules hold: never edit one that has shipped.
 */
export const CONNECT_MIGRATIONS: readonly Migration[] = [
  {
    version: 6,
    name: 'connections: the travellers\' tokens got by exchanging request tokens, sealed',
    sql: `
      -- One row per connected request. access_token and refresh_token are sealed by the vault
      -- (never in clear) and erased (NULL) when the connection is revoked.
      CREATE TABLE connections (
        id                       TEXT PRIMARY KEY,
        request_id               TEXT NOT NULL UNIQUE REFERENCES requests (id),
        concur_user_id           TEXT,
        first_name               TEXT,
        last_name                TEXT,
        loyalty_number           TEXT,
        member_id                TEXT,
        -- 'legacy' (getaccesstoken.ashx) or 'password' (OAuth 2.0): how it is refreshed and revoked.
        form                     TEXT NOT NULL,
        instance_url             TEXT NOT NULL,
        geolocation              TEXT,
        access_token             TEXT,
        refresh_token            TEXT,
        state                    TEXT NOT NULL,
        connected_at             TEXT NOT NULL,
        connected_by             TEXT NOT NULL,
        access_token_expires_at  TEXT NOT NULL,
        refresh_token_expires_at TEXT,
        last_refreshed_at        TEXT,
        -- When the refresh worker looks at it next (NULL once it is not active).
        next_refresh_at          TEXT,
        refresh_failures         INTEGER NOT NULL DEFAULT 0,
        last_error               TEXT,
        updated_at               TEXT NOT NULL
      );
      CREATE INDEX connections_by_connected_at ON connections (connected_at, id);
      CREATE INDEX connections_due ON connections (state, next_refresh_at);
    `,
  },
  {
    version: 7,
    name: 'a CRSUC exchanges the request token first: what was asked for, the exchange, waiting for a new token',
    sql: `
      -- The code the person (or auto-connect) asked for. status is what the relay sends (or sent)
      -- on its way: a CRRET (or CRPA1/CRPA2) when Concur refused the request token of a CRSUC.
      ALTER TABLE replies ADD COLUMN requested_status TEXT;
      UPDATE replies SET requested_status = status;
      -- When the traveller's tokens from this reply's exchange were stored (its CRSUC may go out).
      ALTER TABLE replies ADD COLUMN exchanged_at TEXT;
      -- request_token_issued_at of the token the last exchange tried: a waiting reply goes on
      -- once a poll brings a token issued at another time.
      ALTER TABLE replies ADD COLUMN token_issued_at TEXT;
      -- Exchange tries in a row that Concur could not answer (the backoff between them).
      ALTER TABLE replies ADD COLUMN exchange_attempts INTEGER NOT NULL DEFAULT 0;
      -- A CRSUC an older relay may already have PUT (in doubt) is read back, never exchanged anew.
      UPDATE replies SET exchanged_at = attempt_started_at
      WHERE state = 'queued' AND status = 'CRSUC' AND attempt_started_at IS NOT NULL;
      -- One reply on its way per request, in every state on the way.
      DROP INDEX replies_one_queued;
      CREATE UNIQUE INDEX replies_one_on_its_way ON replies (request_id)
      WHERE state IN ('queued', 'exchanging', 'waiting_token');
    `,
  },
  {
    version: 8,
    name: 'matches: which new requests the member directory is still to be asked about, and what it said',
    sql: `
      -- A row per new request for the member directory (auto-connect), written with its
      -- request.created: 'due' at next_attempt_at (after a restart too), or 'done'. result, note,
      -- answered_at: the last answer; member_id: for the connection a CRSUC makes.
      CREATE TABLE matches (
        request_id      TEXT PRIMARY KEY REFERENCES requests (id),
        state           TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        result          TEXT,
        note            TEXT,
        answered_at     TEXT,
        member_id       TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
      );
      CREATE INDEX matches_due ON matches (state, next_attempt_at);
    `,
  },
];
