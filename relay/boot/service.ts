import { resolve } from 'node:path';
import { formatProblems, parseConfig } from '../base/config.js';
import { createLogger } from '../base/log.js';
import type { MatchSettings, RelayConfig } from '../base/config-shape.js';
import { startConfiguredRelay } from './runtime.js';

/**
 * The relay as a service (`npm run relay` with no arguments): configuration mistakes end the
 * process at once with one line per problem; SIGTERM and SIGINT end it gracefully.
 */
export async function runService(env: Record<string, string | undefined>): Promise<void> {
  const parsed = parseConfig(env);
  if (!parsed.ok) {
    process.stderr.write(`${formatProblems(parsed.problems)}\n`);
    process.exit(2);
  }
  const config = parsed.config;
  const logger = createLogger({ level: config.logLevel });

  let relay: Awaited<ReturnType<typeof startConfiguredRelay>>;
  try {
    relay = await startConfiguredRelay(config, { logger });
  } catch (err) {
    // Start-up failures a user can fix (a port in use, an unreadable database) get a sentence, not a stack.
    const message = withoutPassword(err instanceof Error ? err.message : String(err), config.database);
    process.stderr.write(`The relay could not start: ${message}\n`);
    process.exit(1);
  }

  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      relay.close().then(
        () => logger.flush(() => process.exit(0)),
        (err: unknown) => {
          logger.error({ err }, 'stopping failed');
          logger.flush(() => process.exit(1));
        },
      );
    });
  }
  // Only now: whoever reads the banner may stop the relay at once, and a SIGTERM that arrived
  // before the handlers would end it ungracefully (stderr to a pipe need not be written at once).
  process.stderr.write(banner(relay, config.concur.baseUrl, config.database, config.match));
}

/** A driver's message could quote the URL it was given: the password never reaches the terminal. */
function withoutPassword(message: string, database: RelayConfig['database']): string {
  if (database.kind !== 'postgres') return message;
  const password = decodeURIComponent(new URL(database.url).password);
  return password === '' ? message : message.split(password).join('***');
}

type Relay = Pick<Awaited<ReturnType<typeof startConfiguredRelay>>, 'url' | 'sandbox' | 'generatedApiKey'>;

/** What auto-connect does, in one line: the directory's origin only (a URL may carry a key in its query). */
function autoConnectLine(match: MatchSettings | null): string {
  if (match === null) return 'off (no member directory: see "Auto-connect" in the README)';
  const who = match.directory === 'sandbox' ? "the sandbox's demo member directory" : `the member directory at ${new URL(match.url).origin}`;
  const what = { off: 'answers are shown, nothing is sent by itself', connect: 'members are connected by themselves', all: 'members connected, CREU1–3 sent by themselves' }[match.autoReply];
  return `${match.autoReply}: asking ${who}; ${what}`;
}

function banner(relay: Relay, concurBaseUrl: string | null, database: RelayConfig['database'], match: MatchSettings | null): string {
  const lines = [``, `TripLink Relay is running on ${relay.url}`];
  if (relay.sandbox) {
    lines.push(`  mode          sandbox: a simulated Concur at ${relay.sandbox.url} (new requests arrive by themselves)`);
  } else {
    lines.push(`  mode          Concur at ${concurBaseUrl}`);
  }
  lines.push(`  auto-connect  ${autoConnectLine(match)}`);
  if (relay.generatedApiKey) lines.push(`  API key       ${relay.generatedApiKey}`);
  lines.push(
    `  try it        curl -H "Authorization: Bearer <API key>" ${relay.url}/api/v1/summary`,
    // A PostgreSQL URL without its password.
    `  database      ${database.kind === 'sqlite' ? resolve(database.path) : `PostgreSQL at ${database.shown}`}`,
  );
  if (relay.sandbox) {
    lines.push(
      `  extension     load ${resolve('.output/chrome-mv3')} in chrome://extensions (Developer mode → Load unpacked)`,
      `                or ${resolve('.output/firefox-mv2')} in about:debugging (Firefox), then enter the URL and key in its options`,
    );
  }
  lines.push(`Stop with Ctrl+C.`, ``);
  return `${lines.join('\n')}\n`;
}
