import { randomBytes } from 'node:crypto';
import type { AutoConnect } from '../../shared/match.js';
import type { RelayConfig } from '../base/config-shape.js';
import type { DirectoryTarget } from '../match/directory.js';
import { createMatchWorker, type MatchWorker, type MatchWorkerOptions } from '../match/worker.js';
import type { RunningSandbox } from '../sandbox/server.js';

/**
 * Auto-connect's part of the wiring (runtime.ts): which member directory to ask, and the worker
 * that asks it. Without RELAY_MATCH_URL, sandbox mode asks the embedded sandbox's demo directory,
 * with a secret made for this run (`sandboxDirectorySecret`, handed to the sandbox at its start).
 */

/** The secret for the sandbox's demo directory, when sandbox mode is to ask it; null otherwise. */
export function sandboxDirectorySecret(config: RelayConfig): string | null {
  return config.match?.directory === 'sandbox' ? `whsec_${randomBytes(32).toString('base64')}` : null;
}

function directoryOf(config: RelayConfig, sandbox: RunningSandbox | null, sandboxSecret: string | null): DirectoryTarget | null {
  const match = config.match;
  if (match === null) return null;
  const timeoutMs = match.timeoutSeconds * 1000;
  if (match.directory === 'url') return { url: match.url, secret: match.secret, timeoutMs, allowPrivate: config.webhookAllowPrivate };
  if (sandbox === null || sandboxSecret === null) return null;
  // The embedded sandbox is the relay's own, on loopback: there is no forgery to guard against.
  return { url: `${sandbox.url}/_sandbox/directory`, secret: sandboxSecret, timeoutMs, allowPrivate: true };
}

/** The auto-connect worker for the configured directory; null when there is none. */
export function createMatcher(
  config: RelayConfig,
  sandbox: { running: RunningSandbox | null; secret: string | null },
  deps: Omit<MatchWorkerOptions, 'directory' | 'autoReply'>,
): MatchWorker | null {
  const directory = directoryOf(config, sandbox.running, sandbox.secret);
  if (config.match === null || directory === null) return null;
  return createMatchWorker({ ...deps, directory, autoReply: config.match.autoReply });
}

/**
 * What the summary says auto-connect does (`Summary.autoConnect`): the same choice as
 * createMatcher's, so `directory` is true exactly when a worker asks about every new request.
 */
export function autoConnectOf(config: RelayConfig, matcher: MatchWorker | null): AutoConnect {
  if (config.match === null || matcher === null) return { policy: 'off', directory: false };
  return { policy: config.match.autoReply, directory: true };
}
