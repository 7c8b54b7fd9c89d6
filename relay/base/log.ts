import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config-shape.js';

export type { Logger };

/**
 * Structured JSON logs. Secrets are redacted by path as a second line of defence; the first is
 * that no code puts a token, key or secret into a log call at all.
 */
const REDACT = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'requestToken',
  '*.requestToken',
  'accessToken',
  '*.accessToken',
  'access_token',
  '*.access_token',
  'refreshToken',
  '*.refreshToken',
  'refresh_token',
  '*.refresh_token',
  'clientSecret',
  '*.clientSecret',
  'apiKey',
  '*.apiKey',
  'apiKeys',
  '*.apiKeys',
  'vaultKey',
  '*.vaultKey',
  'vaultOldKeys',
  '*.vaultOldKeys',
  'secret',
  '*.secret',
];

/** `level` is the configuration's (LOG_LEVEL) for the relay; tests pick their own. */
export function createLogger(options: { level?: LogLevel; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'triplink-relay' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
