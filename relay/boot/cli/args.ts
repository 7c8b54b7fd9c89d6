import { parseArgs } from 'node:util';
import { ApiKeyCreate } from '../../../shared/people.js';
import { ROLES } from '../../../shared/roles.js';

/**
 * The process's arguments to what to do: start the service (no arguments), show the usage, one
 * `keys` command, or `vault rotate`. Every mistake is one line naming the command, what was wrong and what
 * would be right; the caller prints it and exits 2.
 *
 * `parseArgs` runs without `strict` and hands back its tokens: its own errors are written for
 * programmers and differ between Node versions, so the checks and their sentences are here.
 */

export type Command =
  | { kind: 'service' }
  | { kind: 'help' }
  | { kind: 'keys.create'; input: ApiKeyCreate }
  | { kind: 'keys.list' }
  | { kind: 'keys.revoke'; idOrPrefix: string }
  | { kind: 'vault.rotate' };

export type ParsedArgs = { ok: true; command: Command } | { ok: false; problem: string };

const HELP = ['--help', '-h'];
const KEYS_COMMANDS = ['create', 'list', 'revoke'] as const;
type KeysCommand = (typeof KEYS_COMMANDS)[number];

const ROLE_LIST = ROLES.join(', ');
const ROLE_EXAMPLE = '--role replier';
const NAME_EXAMPLE = '--name "Alice"';

/** What the user typed, quoted (so that blanks show) and shortened. */
const quoted = (value: string) => JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
const got = (value: string) => `(got ${quoted(value)})`;

const fail = (where: string, text: string): ParsedArgs => ({ ok: false, problem: `${where}: ${text}` });

export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  const [first, ...rest] = argv;
  if (first === undefined) return { ok: true, command: { kind: 'service' } };
  if (HELP.includes(first)) return { ok: true, command: { kind: 'help' } };
  if (first === 'keys') return parseKeys(rest);
  if (first === 'vault') return parseVault(rest);
  if (first.startsWith('-')) {
    return fail(
      'relay',
      `unknown option ${quoted(first)}; the relay takes its settings from environment variables (see the README), and its commands are keys and vault (see --help)`,
    );
  }
  return fail(
    'relay',
    `unknown command ${quoted(first)}; the commands are keys (keys create, keys list, keys revoke) and vault (vault rotate); with no arguments the relay starts; see --help`,
  );
}

/** `vault rotate`, which takes no options and no arguments (the keys come from the environment). */
function parseVault(argv: readonly string[]): ParsedArgs {
  const [command, ...rest] = argv;
  if (command === undefined) return fail('vault', 'name a command: rotate; e.g. vault rotate (vault --help shows the usage)');
  if (HELP.includes(command)) return { ok: true, command: { kind: 'help' } };
  if (command !== 'rotate') {
    const hint = command.startsWith('-') ? 'name the command first' : 'the command is rotate';
    return fail('vault', `unknown command ${quoted(command)}; ${hint}, e.g. vault rotate (see vault --help)`);
  }
  const { tokens } = parseArgs({ args: [...rest], options: { help: { type: 'boolean', short: 'h' } }, strict: false, allowPositionals: true, tokens: true });
  let positionals = 0;
  for (const token of tokens) {
    if (token.kind === 'positional') positionals++;
    if (token.kind !== 'option') continue;
    if (token.name === 'help') return { ok: true, command: { kind: 'help' } };
    return fail('vault rotate', `unknown option ${token.rawName}; it takes none: the keys come from RELAY_VAULT_KEY and RELAY_VAULT_OLD_KEYS (see vault --help)`);
  }
  if (positionals > 0) return fail('vault rotate', `takes no arguments (got ${positionals}); e.g. vault rotate`);
  return { ok: true, command: { kind: 'vault.rotate' } };
}

function parseKeys(argv: readonly string[]): ParsedArgs {
  const [command, ...rest] = argv;
  if (command === undefined) return fail('keys', 'name a command: create, list or revoke; e.g. keys list (keys --help shows them all)');
  if (HELP.includes(command)) return { ok: true, command: { kind: 'help' } };
  if (!isKeysCommand(command)) {
    const hint = command.startsWith('-') ? 'name the command first' : 'the commands are create, list and revoke';
    return fail('keys', `unknown command ${quoted(command)}; ${hint}, e.g. keys list (see keys --help)`);
  }
  const where = `keys ${command}`;
  const options = readOptions(where, command, rest);
  if (!options.ok) return options;
  if (options.help) return { ok: true, command: { kind: 'help' } };
  switch (command) {
    case 'create':
      return createCommand(where, options.values);
    case 'list':
      return options.positionals.length === 0
        ? { ok: true, command: { kind: 'keys.list' } }
        : fail(where, `takes no arguments (got ${options.positionals.length}); e.g. keys list`);
    case 'revoke':
      return revokeCommand(where, options.positionals);
  }
}

function isKeysCommand(value: string): value is KeysCommand {
  return (KEYS_COMMANDS as readonly string[]).includes(value);
}

/** The string options each command takes (every command also takes --help). */
const STRING_OPTIONS: Readonly<Record<KeysCommand, readonly string[]>> = {
  create: ['name', 'role'],
  list: [],
  revoke: [],
};

type Options =
  | { ok: true; help: boolean; values: ReadonlyMap<string, string>; positionals: string[] }
  | { ok: false; problem: string };

function readOptions(where: string, command: KeysCommand, argv: readonly string[]): Options {
  const takes = STRING_OPTIONS[command];
  const config = Object.fromEntries([
    ...takes.map((name) => [name, { type: 'string', multiple: true }] as const),
    ['help', { type: 'boolean', short: 'h' }] as const,
  ]);
  const { tokens } = parseArgs({ args: [...argv], options: config, strict: false, allowPositionals: true, tokens: true });
  const known = takes.length === 0 ? 'it takes none' : `it takes ${takes.map((name) => `--${name}`).join(' and ')}`;
  const values = new Map<string, string>();
  const positionals: string[] = [];
  let help = false;
  for (const token of tokens) {
    if (token.kind === 'positional') positionals.push(token.value);
    if (token.kind !== 'option') continue;
    if (token.name === 'help') {
      help = true;
      continue;
    }
    if (!takes.includes(token.name)) return { ok: false, problem: `${where}: unknown option ${token.rawName}; ${known} (see keys --help)` };
    const example = token.name === 'name' ? NAME_EXAMPLE : ROLE_EXAMPLE;
    // `--name --role admin` would otherwise name the key "--role"; a value may start with a dash as `--name=-x`.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('-'))) {
      return { ok: false, problem: `${where}: ${token.rawName} needs a value, e.g. ${example}` };
    }
    if (values.has(token.name)) {
      return { ok: false, problem: `${where}: ${token.rawName} is given more than once; give it once, e.g. ${example}` };
    }
    values.set(token.name, token.value);
  }
  return { ok: true, help, values, positionals };
}

function createCommand(where: string, values: ReadonlyMap<string, string>): ParsedArgs {
  const parsed = ApiKeyCreate.safeParse({ name: values.get('name'), role: values.get('role') });
  if (parsed.success) return { ok: true, command: { kind: 'keys.create', input: parsed.data } };
  const problems: string[] = [];
  for (const field of ['name', 'role'] as const) {
    const issue = parsed.error.issues.find((i) => i.path[0] === field);
    if (issue !== undefined) problems.push(field === 'name' ? nameProblem(values.get('name'), issue.message) : roleProblem(values.get('role')));
  }
  // Both fields at once, still on one line: fixing one only to be told of the other is a waste of a turn.
  return fail(where, problems.join('. Also: ') || `the key cannot be made from these options; e.g. keys create ${NAME_EXAMPLE} ${ROLE_EXAMPLE}`);
}

function nameProblem(value: string | undefined, message: string): string {
  if (value === undefined) return `--name is required: who or what uses the key, e.g. ${NAME_EXAMPLE}`;
  // The model's own sentence (blank, too long), which the API answers with too.
  const shown = value.length > 60 ? `(got ${value.length} characters)` : got(value);
  return `--name ${message} ${shown}`;
}

function roleProblem(value: string | undefined): string {
  if (value === undefined) return `--role is required: one of ${ROLE_LIST}; e.g. ${ROLE_EXAMPLE}`;
  return `--role must be one of ${ROLE_LIST} ${got(value)}; e.g. ${ROLE_EXAMPLE}`;
}

function revokeCommand(where: string, positionals: readonly string[]): ParsedArgs {
  const example = 'e.g. keys revoke trl_AbCd (keys list shows every id and prefix)';
  if (positionals.length === 0) return fail(where, `name the key to revoke by its id or prefix, ${example}`);
  if (positionals.length > 1) return fail(where, `revokes one key at a time (got ${positionals.length} arguments), ${example}`);
  const idOrPrefix = positionals[0]!.trim();
  if (idOrPrefix === '') return fail(where, `the id or prefix is empty, ${example}`);
  return { ok: true, command: { kind: 'keys.revoke', idOrPrefix } };
}
