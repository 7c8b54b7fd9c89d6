import { ROLES } from '../../../shared/roles.js';

/** What `--help` and `keys --help` print (on stdout). The README's "The keys command" says the same at length. */
export const USAGE = `TripLink Relay

Usage:
  node dist/relay.mjs                   start the relay (configured by environment variables, see the README)
  node dist/relay.mjs keys create --name <name> --role <role>
                                        make an API key; the key is printed once, alone on the last line of stdout
  node dist/relay.mjs keys list         every key: id, prefix, name, role, last used, created, revoked (never the key)
  node dist/relay.mjs keys revoke <id or prefix>
                                        revoke a key; the relay refuses it from its next call
  node dist/relay.mjs --help            this text (keys --help too)

  From a checkout, npm run relay -- keys … builds the bundle and does the same.

Roles: ${ROLES.join(', ')}.

The keys commands work on the relay's database, also while the relay runs. They read only
RELAY_DB (the database, default ./data/relay.sqlite: use the relay's own) and LOG_LEVEL.

Exit status: 0 done; 1 no such key (unknown or ambiguous id or prefix), or the database cannot
be used; 2 a usage mistake (unknown command or option, missing --name, a bad role, a bad variable).
`;
