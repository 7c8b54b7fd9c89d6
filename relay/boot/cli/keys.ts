import type { ApiKey } from '../../../shared/people.js';
import { AmbiguousKeyError, UnknownKeyError, type Actor, type Keys } from '../../store/index.js';
import type { Command } from './args.js';
import { keysTable, printable, shortTime } from './table.js';

/**
 * One `keys` command against the store's keys: what it prints and its exit status. The key
 * itself goes to stdout alone, and only from `create`; everything said about it goes to stderr,
 * so that `KEY=$(… keys create …)` holds the key and nothing else.
 */

/** Who the audit trail names for everything done here. */
export const CLI_ACTOR: Actor = { keyId: null, name: 'cli' };

export type KeysCommand = Extract<Command, { kind: 'keys.create' | 'keys.list' | 'keys.revoke' }>;

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** 0 done; 1 no such key (unknown or ambiguous). Usage mistakes never get this far. */
export type KeysExit = 0 | 1;

const keyText = (key: ApiKey) => `${key.id} ${JSON.stringify(printable(key.name))} (role ${key.role}, prefix ${key.prefix})`;

export async function runKeysCommand(
  command: KeysCommand,
  keys: Pick<Keys, 'create' | 'list' | 'revoke' | 'find'>,
  io: Output,
  database: string,
): Promise<KeysExit> {
  switch (command.kind) {
    case 'keys.create': {
      const { key, secret } = await keys.create(command.input, CLI_ACTOR);
      io.err(`Made API key ${keyText(key)} in ${database}.`);
      io.err('The key is on the last line of stdout, shown only this once: keep it now (the relay keeps only its hash).');
      io.out(secret);
      return 0;
    }
    case 'keys.list': {
      const all = await keys.list();
      for (const line of keysTable(all)) io.out(line);
      if (all.length === 0) io.err(`No API keys in ${database} yet; make one with keys create --name "Alice" --role replier`);
      return 0;
    }
    case 'keys.revoke':
      return await revoke(command.idOrPrefix, keys, io);
  }
}

/** An id (`key_…`) or a prefix (8 characters) is safe to repeat; anything longer may be a whole key. */
const mayShow = (value: string) => value.startsWith('key_') || value.length <= 8;

async function revoke(idOrPrefix: string, keys: Pick<Keys, 'list' | 'revoke' | 'find'>, io: Output): Promise<KeysExit> {
  const wasRevoked = new Map((await keys.list()).map((key) => [key.id, key.revokedAt]));
  // Someone holding a leaked key can revoke it by the key itself, without looking up its id first.
  const whole = await keys.find(idOrPrefix);
  let key: ApiKey;
  try {
    key = await keys.revoke(whole?.id ?? idOrPrefix, CLI_ACTOR);
  } catch (error) {
    if (error instanceof UnknownKeyError) {
      io.err(
        mayShow(idOrPrefix)
          ? `keys revoke: no API key has the id or prefix ${JSON.stringify(printable(idOrPrefix))}; keys list shows every key's id and prefix`
          : 'keys revoke: no API key has this id, prefix or key (not shown: longer than a prefix, it may be a key); keys list shows every id and prefix',
      );
      return 1;
    }
    if (error instanceof AmbiguousKeyError) {
      io.err(
        `keys revoke: ${error.ids.length} API keys have the prefix ${JSON.stringify(printable(error.prefix))} (${error.ids.join(', ')}); name the key by its id, e.g. keys revoke ${error.ids[0]}`,
      );
      return 1;
    }
    throw error;
  }
  const before = wasRevoked.get(key.id);
  if (before !== undefined && before !== null) {
    io.out(`API key ${keyText(key)} was already revoked at ${shortTime(before, '-')} UTC; nothing changed.`);
  } else {
    io.out(`Revoked API key ${keyText(key)} at ${shortTime(key.revokedAt, '-')} UTC; the relay refuses it from its next call.`);
  }
  return 0;
}
