import { describe, expect, it } from 'vitest';
import { formatProblems, parseConfig } from '../../../relay/base/config.js';
import { RelayConfigSchema, type RelayConfig } from '../../../relay/base/config-shape.js';
import { CONCUR_MODE_ENV, VAULT } from './env.js';

/** The auto-connect variables: RELAY_MATCH_URL, RELAY_MATCH_SECRET, RELAY_AUTO_REPLY, RELAY_MATCH_TIMEOUT_SECONDS. */

const SECRET = `whsec_${Buffer.from('match-secret-hush-of-32-bytes-ok').toString('base64')}`;
const real = CONCUR_MODE_ENV;
const URL = 'https://members.partner.example/concur/match';

function ok(env: Record<string, string | undefined>): RelayConfig {
  const result = parseConfig(env);
  if (!result.ok) throw new Error(`expected a valid configuration, got:\n${formatProblems(result.problems)}`);
  expect(RelayConfigSchema.safeParse(result.config).success).toBe(true);
  return result.config;
}

function problems(env: Record<string, string | undefined>): string[] {
  const result = parseConfig(env);
  if (result.ok) throw new Error('expected problems, the configuration was accepted');
  return result.problems;
}

describe('auto-connect configuration', () => {
  it('has no directory against Concur unless RELAY_MATCH_URL is set, and then connects members by default', () => {
    expect(ok(real).match).toBeNull();
    expect(ok({ ...real, RELAY_AUTO_REPLY: 'off' }).match).toBeNull();
    expect(ok({ ...real, RELAY_MATCH_URL: `${URL}/`, RELAY_MATCH_SECRET: SECRET }).match).toEqual({
      directory: 'url',
      url: URL,
      secret: SECRET,
      autoReply: 'connect',
      timeoutSeconds: 5,
    });
    expect(
      ok({ ...real, RELAY_MATCH_URL: URL, RELAY_MATCH_SECRET: SECRET, RELAY_AUTO_REPLY: 'ALL', RELAY_MATCH_TIMEOUT_SECONDS: '2.5' }).match,
    ).toMatchObject({ autoReply: 'all', timeoutSeconds: 2.5 });
  });

  it("asks the sandbox's demo directory in sandbox mode without RELAY_MATCH_URL, and a real one with it", () => {
    expect(ok({}).match).toEqual({ directory: 'sandbox', autoReply: 'connect', timeoutSeconds: 5 });
    expect(ok({ RELAY_AUTO_REPLY: 'off' }).match).toMatchObject({ directory: 'sandbox', autoReply: 'off' });
    expect(ok({ RELAY_MATCH_URL: URL, RELAY_MATCH_SECRET: SECRET }).match).toMatchObject({ directory: 'url', url: URL });
  });

  it('refuses each mistake with one line that shows a good value, never showing the secret', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ RELAY_MATCH_URL: URL }, /^RELAY_MATCH_SECRET: not set; it is required with RELAY_MATCH_URL/],
      [{ RELAY_MATCH_SECRET: SECRET }, /^RELAY_MATCH_URL: not set, but RELAY_MATCH_SECRET is: .*, e\.g\. RELAY_MATCH_URL=https:\/\/members\.example\.com\/triplink\/match$/],
      [{ RELAY_MATCH_URL: URL, RELAY_MATCH_SECRET: 'whsec_short-hush' }, /^RELAY_MATCH_SECRET: must be whsec_ followed by 24 to 64 random bytes in base64 \(value not shown\)/],
      [{ RELAY_MATCH_URL: URL, RELAY_MATCH_SECRET: SECRET.slice('whsec_'.length) }, /^RELAY_MATCH_SECRET: must be whsec_/],
      [{ RELAY_MATCH_URL: 'ftp://members.example', RELAY_MATCH_SECRET: SECRET }, /^RELAY_MATCH_URL: must be an http\(s\) URL/],
      [{ RELAY_MATCH_URL: 'https://user:hush@members.example', RELAY_MATCH_SECRET: SECRET }, /^RELAY_MATCH_URL: must not contain a user name or password \(value not shown\)/],
      [{ RELAY_AUTO_REPLY: 'connect' }, /^RELAY_AUTO_REPLY: is connect, but there is no member directory to ask/],
      [{ RELAY_AUTO_REPLY: 'sometimes' }, /^RELAY_AUTO_REPLY: must be off, connect or all \(got "sometimes"\)/],
      [{ RELAY_MATCH_URL: URL, RELAY_MATCH_SECRET: SECRET, RELAY_MATCH_TIMEOUT_SECONDS: '0' }, /^RELAY_MATCH_TIMEOUT_SECONDS: must be a number of seconds greater than 0/],
      [{ RELAY_MATCH_URL: URL, RELAY_MATCH_SECRET: SECRET, RELAY_MATCH_TIMEOUT_SECONDS: '61' }, /^RELAY_MATCH_TIMEOUT_SECONDS: must be a number of seconds, at most 60/],
    ];
    for (const [env, expected] of cases) {
      const lines = problems({ ...real, ...env });
      expect(lines, JSON.stringify(env)).toHaveLength(1);
      expect(lines[0]).toMatch(expected);
      // What would be right, as every configuration problem says it.
      expect(lines[0]).toMatch(/[;,] e\.g\. RELAY_[A-Z_]+=\S/);
      expect(lines[0]).not.toContain('hush');
      expect(lines[0]).not.toContain(SECRET.slice('whsec_'.length, 20));
    }
  });

  it('lists every problem at once, in the order of the variables', () => {
    const lines = problems({ ...real, RELAY_MATCH_URL: 'nope', RELAY_AUTO_REPLY: 'never', RELAY_MATCH_TIMEOUT_SECONDS: '-1' });
    expect(lines.map((line) => line.split(':')[0])).toEqual([
      'RELAY_MATCH_URL',
      'RELAY_MATCH_SECRET',
      'RELAY_AUTO_REPLY',
      'RELAY_MATCH_TIMEOUT_SECONDS',
    ]);
  });
});
