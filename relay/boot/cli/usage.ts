import { ROLES } from '../../../shared/roles.js';

/** What `--help`, `keys --help` and `vault --help` print (on stdout). The README's "The keys command" and "The token vault" say the same at length. */
export const USAGE = `TripLink Relay

Usage:
  node dist/relay.mjs                   start the relay (configured by environment variables, see the README)
  node dist/relay.mjs keys create --name <name> --role <role>
                                        make an API key; the key is printed once, alone on the last line of stdout
  node dist/relay.mjs keys list         every key: id, prefix, name, role, last used, created, revoked (never the key)
  node dist/relay.mjs keys revoke <id or prefix>
                                        revoke a key; the relay refuses it from its next call
  node dist/relay.mjs vault rotate      re-seal every stored secret with RELAY_VAULT_KEY, the keys in
                                        RELAY_VAULT_OLD_KEYS opening what is under them; resumable
  node dist/relay.mjs --help            this text (keys --help too)

  From a checkout, npm run relay -- keys … (or vault rotate) builds the bundle and does the same.

Roles: ${ROLES.join(', ')}.

The commands work on the relay's database, also while relays run. They read only RELAY_DB
(the database, default ./data/relay.sqlite, or a postgres:// URL: use the relays' own),
RELAY_VAULT_KEY, RELAY_VAULT_OLD_KEYS, RELAY_VAULT_ROTATE_WAIT_SECONDS and LOG_LEVEL.

Rotating the vault key: start the relay with RELAY_VAULT_KEY=<new key> and
RELAY_VAULT_OLD_KEYS=<old key>, run vault rotate in that same environment (again, if it was
stopped: it carries on), then drop RELAY_VAULT_OLD_KEYS. Having moved the check value, vault
rotate waits RELAY_VAULT_ROTATE_WAIT_SECONDS (default 12; 0 when no relay runs) and re-seals
what a relay still on the old key sealed meanwhile.

Exit status: 0 done; 1 no such key (unknown or ambiguous id or prefix), the database cannot be
used, or the vault keys do not open it; 2 a usage mistake (unknown command or option, missing
--name, a bad role, a bad variable).
`;
