import { parseCommandLine } from './cli/args.js';
import { runCommand } from './cli/run.js';
import { runService } from './service.js';

/**
 * The process (`npm run relay`, `node dist/relay.mjs`): with no arguments the relay service; with
 * `keys …` the key-management command line, on the same database; `--help` the usage. A usage
 * mistake is one line on stderr and exit status 2.
 */

const parsed = parseCommandLine(process.argv.slice(2));
if (!parsed.ok) {
  process.stderr.write(`${parsed.problem}\n`);
  process.exitCode = 2;
} else if (parsed.command.kind === 'service') {
  await runService(process.env);
} else {
  // `keys list | head` closes the pipe early: the command has done its work by then; end quietly, not with a stack.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit();
  });
  process.exitCode = await runCommand(parsed.command, {
    env: process.env,
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  });
}
