import { describe, expect, it } from 'vitest';
import { parseCommandLine, type ParsedArgs } from '../../../../relay/boot/cli/args.js';

/** The arguments to a command, or one line saying what was wrong and what would be right. */

function problem(argv: string[]): string {
  const parsed: ParsedArgs = parseCommandLine(argv);
  if (parsed.ok) throw new Error(`expected a usage mistake, got ${JSON.stringify(parsed.command)}`);
  expect(parsed.problem).not.toContain('\n');
  return parsed.problem;
}

describe('parseCommandLine', () => {
  it('starts the service with no arguments', () => {
    expect(parseCommandLine([])).toEqual({ ok: true, command: { kind: 'service' } });
  });

  it('shows the usage for --help and -h, at the top and within keys', () => {
    for (const argv of [['--help'], ['-h'], ['keys', '--help'], ['keys', '-h'], ['keys', 'create', '--help'], ['keys', 'revoke', '-h']]) {
      expect(parseCommandLine(argv)).toEqual({ ok: true, command: { kind: 'help' } });
    }
  });

  it('reads keys create, with the name trimmed as the API trims it', () => {
    expect(parseCommandLine(['keys', 'create', '--name', ' Alice ', '--role', 'replier'])).toEqual({
      ok: true,
      command: { kind: 'keys.create', input: { name: 'Alice', role: 'replier' } },
    });
    expect(parseCommandLine(['keys', 'create', '--role=broker', '--name=-back office-'])).toEqual({
      ok: true,
      command: { kind: 'keys.create', input: { name: '-back office-', role: 'broker' } },
    });
  });

  it('reads keys list and keys revoke <id or prefix>', () => {
    expect(parseCommandLine(['keys', 'list'])).toEqual({ ok: true, command: { kind: 'keys.list' } });
    expect(parseCommandLine(['keys', 'revoke', 'trl_AbCd'])).toEqual({ ok: true, command: { kind: 'keys.revoke', idOrPrefix: 'trl_AbCd' } });
    expect(parseCommandLine(['keys', 'revoke', '--', '-odd'])).toEqual({ ok: true, command: { kind: 'keys.revoke', idOrPrefix: '-odd' } });
  });

  it('refuses a role outside the four, naming them and an example', () => {
    expect(problem(['keys', 'create', '--name', 'Bob', '--role', 'boss'])).toBe(
      'keys create: --role must be one of viewer, replier, admin, broker (got "boss"); e.g. --role replier',
    );
    // Roles are spelled as the API spells them.
    expect(problem(['keys', 'create', '--name', 'Bob', '--role', 'Admin'])).toContain('(got "Admin")');
  });

  it('asks for a missing --name or --role, both at once on one line', () => {
    expect(problem(['keys', 'create', '--role', 'viewer'])).toBe('keys create: --name is required: who or what uses the key, e.g. --name "Alice"');
    expect(problem(['keys', 'create', '--name', 'Bob'])).toBe(
      'keys create: --role is required: one of viewer, replier, admin, broker; e.g. --role replier',
    );
    const both = problem(['keys', 'create']);
    expect(both).toMatch(/^keys create: --name is required.*Also: --role is required/);
  });

  it("gives the model's reason for a blank or long name", () => {
    expect(problem(['keys', 'create', '--name', '  ', '--role', 'viewer'])).toBe(
      'keys create: --name must name who or what uses the key, e.g. "Alice" or "back office" (got "  ")',
    );
    expect(problem(['keys', 'create', '--name', 'x'.repeat(101), '--role', 'viewer'])).toBe(
      'keys create: --name must be at most 100 characters (got 101 characters)',
    );
  });

  it('refuses an option without its value rather than taking the next option as the value', () => {
    expect(problem(['keys', 'create', '--name'])).toBe('keys create: --name needs a value, e.g. --name "Alice"');
    expect(problem(['keys', 'create', '--name', '--role', 'admin'])).toBe('keys create: --name needs a value, e.g. --name "Alice"');
    expect(problem(['keys', 'create', '--name', 'A', '--role'])).toBe('keys create: --role needs a value, e.g. --role replier');
  });

  it('refuses an option given twice: which one was meant would be a guess', () => {
    expect(problem(['keys', 'create', '--name', 'A', '--role', 'admin', '--role', 'viewer'])).toBe(
      'keys create: --role is given more than once; give it once, e.g. --role replier',
    );
  });

  it('refuses unknown options, saying which ones the command takes', () => {
    expect(problem(['keys', 'create', '--name', 'A', '--role', 'admin', '--expires', '30d'])).toBe(
      'keys create: unknown option --expires; it takes --name and --role (see keys --help)',
    );
    expect(problem(['keys', 'list', '--all'])).toBe('keys list: unknown option --all; it takes none (see keys --help)');
    expect(problem(['keys', 'revoke', '-f', 'trl_AbCd'])).toBe('keys revoke: unknown option -f; it takes none (see keys --help)');
  });

  it('refuses unknown commands at either level, and options where a command belongs', () => {
    // Since `vault rotate`, keys is no longer the one command: the sentence names both.
    expect(problem(['kees', 'list'])).toBe(
      'relay: unknown command "kees"; the commands are keys (keys create, keys list, keys revoke) and vault (vault rotate); with no arguments the relay starts; see --help',
    );
    expect(problem(['--port', '8080'])).toMatch(/^relay: unknown option "--port"; the relay takes its settings from environment variables/);
    expect(problem(['keys', 'delete', 'trl_AbCd'])).toBe(
      'keys: unknown command "delete"; the commands are create, list and revoke, e.g. keys list (see keys --help)',
    );
    expect(problem(['keys', '--name', 'A', 'create'])).toBe(
      'keys: unknown command "--name"; name the command first, e.g. keys list (see keys --help)',
    );
    expect(problem(['keys'])).toBe('keys: name a command: create, list or revoke; e.g. keys list (keys --help shows them all)');
  });

  it('reads vault rotate, its help, and nothing else (a key typed as an argument is not echoed)', () => {
    expect(parseCommandLine(['vault', 'rotate'])).toEqual({ ok: true, command: { kind: 'vault.rotate' } });
    for (const argv of [['vault', '--help'], ['vault', '-h'], ['vault', 'rotate', '--help']]) {
      expect(parseCommandLine(argv)).toEqual({ ok: true, command: { kind: 'help' } });
    }
    expect(problem(['vault'])).toBe('vault: name a command: rotate; e.g. vault rotate (vault --help shows the usage)');
    expect(problem(['vault', 'rotat'])).toBe('vault: unknown command "rotat"; the command is rotate, e.g. vault rotate (see vault --help)');
    expect(problem(['vault', '--force'])).toBe('vault: unknown command "--force"; name the command first, e.g. vault rotate (see vault --help)');
    expect(problem(['vault', 'rotate', '--key', 'x'])).toBe(
      'vault rotate: unknown option --key; it takes none: the keys come from RELAY_VAULT_KEY and RELAY_VAULT_OLD_KEYS (see vault --help)',
    );
    const key = 'dGhpcy1pcy1hLXNlY3JldC12YXVsdC1rZXktb2YtMzJiPQ==';
    expect(problem(['vault', 'rotate', key])).toBe('vault rotate: takes no arguments (got 1); e.g. vault rotate');
  });

  it('wants exactly one key to revoke, and no arguments to list', () => {
    expect(problem(['keys', 'revoke'])).toMatch(/^keys revoke: name the key to revoke by its id or prefix, e\.g\. keys revoke trl_AbCd/);
    expect(problem(['keys', 'revoke', 'trl_AbCd', 'trl_EfGh'])).toMatch(/^keys revoke: revokes one key at a time \(got 2 arguments\)/);
    expect(problem(['keys', 'revoke', ' '])).toMatch(/^keys revoke: the id or prefix is empty/);
    expect(problem(['keys', 'list', 'trl_secret-would-not-be-echoed'])).toBe('keys list: takes no arguments (got 1); e.g. keys list');
  });
});
