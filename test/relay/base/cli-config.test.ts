import { describe, expect, it } from 'vitest';
import { CliConfigSchema, parseCliConfig } from '../../../relay/base/cli-config.js';
import { parseConfig } from '../../../relay/base/config.js';
import { VAULT_WATCH_MS } from '../../../relay/boot/vault-watch.js';

describe('parseCliConfig', () => {
  it('needs nothing: the default database and log level', () => {
    const result = parseCliConfig({});
    expect(result).toEqual({ ok: true, config: { database: { kind: 'sqlite', path: './data/relay.sqlite' }, logLevel: 'info', vaultKey: null, vaultOldKeys: [], rotateWaitMs: 12_000 } });
    if (result.ok) expect(CliConfigSchema.safeParse(result.config).success).toBe(true);
  });

  it('reads RELAY_DB and LOG_LEVEL the way the service does (trimmed, blank is unset, level in any case)', () => {
    expect(parseCliConfig({ RELAY_DB: ' /data/relay.sqlite ', LOG_LEVEL: 'WARN' })).toEqual({
      ok: true,
      config: { database: { kind: 'sqlite', path: '/data/relay.sqlite' }, logLevel: 'warn', vaultKey: null, vaultOldKeys: [], rotateWaitMs: 12_000 },
    });
    expect(parseCliConfig({ RELAY_DB: '  ', LOG_LEVEL: '' })).toEqual({
      ok: true,
      config: { database: { kind: 'sqlite', path: './data/relay.sqlite' }, logLevel: 'info', vaultKey: null, vaultOldKeys: [], rotateWaitMs: 12_000 },
    });
  });

  it('ignores the service settings, so that a broken service configuration does not block key management', () => {
    const env = { CONCUR_BASE_URL: 'ftp://concur', POLL_INTERVAL_SECONDS: '0', RELAY_DB: '/var/lib/triplink-relay/relay.sqlite' };
    expect(parseConfig(env).ok).toBe(false);
    expect(parseCliConfig(env)).toEqual({ ok: true, config: { database: { kind: 'sqlite', path: '/var/lib/triplink-relay/relay.sqlite' }, logLevel: 'info', vaultKey: null, vaultOldKeys: [], rotateWaitMs: 12_000 } });
  });

  it('reads RELAY_VAULT_ROTATE_WAIT_SECONDS in whole seconds, 0 to 600, and longer by default than two of a relay\'s looks at the vault', () => {
    const waitOf = (value: string) => {
      const result = parseCliConfig({ RELAY_VAULT_ROTATE_WAIT_SECONDS: value });
      return result.ok ? result.config.rotateWaitMs : result.problems;
    };
    expect(waitOf('0')).toBe(0);
    expect(waitOf(' 30 ')).toBe(30_000);
    expect(waitOf('600')).toBe(600_000);
    expect(waitOf('1.5')).toEqual([expect.stringMatching(/^RELAY_VAULT_ROTATE_WAIT_SECONDS: .*whole.*\(got "1\.5"\)/)]);
    expect(waitOf('-1')).toEqual([expect.stringMatching(/^RELAY_VAULT_ROTATE_WAIT_SECONDS: .*0 when no relay is running/)]);
    expect(waitOf('601')).toEqual([expect.stringMatching(/^RELAY_VAULT_ROTATE_WAIT_SECONDS: .*600/)]);
    const byDefault = parseCliConfig({});
    expect(byDefault.ok && byDefault.config.rotateWaitMs).toBeGreaterThan(2 * VAULT_WATCH_MS);
  });

  it('gives one line per problem, in the service format, all at once', () => {
    const result = parseCliConfig({ RELAY_DB: './data/', LOG_LEVEL: 'loud' });
    expect(result).toEqual({
      ok: false,
      problems: [
        'RELAY_DB: must be a file, not a folder (got "./data/"); e.g. RELAY_DB=./data/relay.sqlite',
        'LOG_LEVEL: must be fatal, error, warn, info, debug, trace or silent (got "loud"); e.g. LOG_LEVEL=info',
      ],
    });
    // The same sentences the service gives for the same variables.
    const service = parseConfig({ RELAY_DB: './data/', LOG_LEVEL: 'loud' });
    expect(service.ok ? [] : service.problems).toEqual(result.ok ? [] : result.problems);
  });
});
