import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../relay/base/config.js';
import { createLogger } from '../../../relay/base/log.js';
import { startRelay, type RunningRelay } from '../../../relay/boot/runtime.js';
import { tempDb } from '../../helpers/relay-process.js';

/**
 * SANDBOX_DEMO_EVERY_SECONDS goes from the environment, through the configuration, to the
 * embedded sandbox's demo timer (which the sandbox's control API reports).
 */

const relays: RunningRelay[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.close()));
});

async function demoOf(env: Record<string, string>): Promise<unknown> {
  const parsed = parseConfig({ RELAY_DB: tempDb(), RELAY_PORT: '0', ...env });
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  const relay = await startRelay(parsed.config, { logger: createLogger({ level: 'silent' }) });
  relays.push(relay);
  const info = (await (await fetch(`${relay.sandbox!.url}/_sandbox`)).json()) as { demo: unknown };
  return info.demo;
}

describe('the sandbox demo in sandbox mode', () => {
  it('adds a request every SANDBOX_DEMO_EVERY_SECONDS, every 30 s by default, never with 0', async () => {
    expect(await demoOf({})).toEqual({ everyMs: 30_000 });
    expect(await demoOf({ SANDBOX_DEMO_EVERY_SECONDS: '5' })).toEqual({ everyMs: 5_000 });
    expect(await demoOf({ SANDBOX_DEMO_EVERY_SECONDS: '0' })).toBeNull();
  });
});
