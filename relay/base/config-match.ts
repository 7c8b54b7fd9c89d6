import { z } from 'zod';
import { AutoReply, DEFAULT_MATCH_TIMEOUT_SECONDS, MAX_MATCH_TIMEOUT_SECONDS, type MatchSettings } from './config-shape.js';
import { envChoice, envNumber, envUrl, envWebhookSecret, type Fix } from './env-fields.js';

/**
 * The auto-connect variables of config.ts's one schema (README, "Auto-connect"): the partner's
 * member directory, the secret that signs each call to it, what the relay answers by itself, and
 * the timeout of one call. Kept here so that config.ts stays one screen of general rules.
 */

const SECRET_EXAMPLE = 'whsec_<the same secret the directory checks signatures with>';
const URL_EXAMPLE = 'https://members.example.com/triplink/match';

export const MATCH_VARIABLES = {
  RELAY_MATCH_URL: envUrl('https://members.partner.example/concur/match', { allowQuery: true }),
  RELAY_MATCH_SECRET: envWebhookSecret(SECRET_EXAMPLE),
  RELAY_AUTO_REPLY: envChoice(AutoReply.options, 'connect'),
  RELAY_MATCH_TIMEOUT_SECONDS: envNumber({
    fallback: DEFAULT_MATCH_TIMEOUT_SECONDS,
    min: 0,
    minExclusive: true,
    max: MAX_MATCH_TIMEOUT_SECONDS,
    tooLow: 'a number of seconds greater than 0',
    tooHigh: `a number of seconds, at most ${MAX_MATCH_TIMEOUT_SECONDS}`,
  }),
};

const MatchVariables = z.object(MATCH_VARIABLES);
type MatchEnv = z.output<typeof MatchVariables>;
type MatchVariable = keyof MatchEnv;

/**
 * The rules between them: the URL and the secret go together, and answering by itself needs a
 * directory (sandbox mode has its demo one). Like config.ts's, they only ask what is set.
 */
export function checkMatch(env: MatchEnv, sandboxMode: boolean, problem: (name: MatchVariable, message: string, fix: Fix) => void): void {
  const url = env.RELAY_MATCH_URL !== undefined;
  const secret = env.RELAY_MATCH_SECRET !== undefined;
  if (url && !secret) {
    problem('RELAY_MATCH_SECRET', 'not set; it is required with RELAY_MATCH_URL: every call to the member directory is signed with it', {
      advice: 'make one with `echo whsec_$(openssl rand -base64 32)` and give the directory the same',
      example: SECRET_EXAMPLE,
    });
  }
  if (secret && !url) {
    problem('RELAY_MATCH_URL', 'not set, but RELAY_MATCH_SECRET is: the secret signs the calls to the member directory this names', {
      advice: 'set RELAY_MATCH_URL to the directory, or unset RELAY_MATCH_SECRET',
      example: URL_EXAMPLE,
    });
  }
  const autoReply = env.RELAY_AUTO_REPLY;
  // A value its field refused is here as given: that field has said what is wrong with it.
  if (!url && !sandboxMode && (autoReply === 'connect' || autoReply === 'all')) {
    problem('RELAY_AUTO_REPLY', `is ${autoReply}, but there is no member directory to ask (RELAY_MATCH_URL is not set)`, {
      advice: 'set RELAY_MATCH_URL and RELAY_MATCH_SECRET, or unset RELAY_AUTO_REPLY',
      example: 'off',
    });
  }
}

type DirectoryAtUrl = Extract<MatchSettings, { directory: 'url' }>;

/** The directory the variables name: RELAY_MATCH_URL, else in sandbox mode the sandbox's own; null for none. */
export function matchSettings(env: MatchEnv, sandboxMode: true): MatchSettings;
export function matchSettings(env: MatchEnv, sandboxMode: false): DirectoryAtUrl | null;
export function matchSettings(env: MatchEnv, sandboxMode: boolean): MatchSettings | null {
  const common = { autoReply: env.RELAY_AUTO_REPLY ?? 'connect', timeoutSeconds: env.RELAY_MATCH_TIMEOUT_SECONDS };
  const { RELAY_MATCH_URL: url, RELAY_MATCH_SECRET: secret } = env;
  // checkMatch has refused a URL without its secret.
  if (url !== undefined && secret !== undefined) return { directory: 'url', url, secret, ...common };
  return sandboxMode ? { directory: 'sandbox', ...common } : null;
}
