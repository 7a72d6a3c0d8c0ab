import { processIo, type CliIo } from './cli/io.js';
import { runCli } from './cli/program.js';

/**
 * Composition root: the only place (with cli/) that reads the process environment and argv.
 * Returns the exit code; bin/depctl.js sets it on the process.
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  return runCli(argv, io);
}
