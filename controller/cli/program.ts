import { Command, CommanderError } from 'commander';
import { type CliIo, ExitCode, UsageError } from './io.js';
import { registerValidate } from './validate.js';
import { registerKeys } from './keys.js';
import { registerToken } from './token.js';
import { registerSim } from './sim.js';
import { registerPlan } from './plan.js';
import { registerApply } from './apply.js';
import { registerRun } from './run.js';
import { registerQuickstart } from './quickstart.js';
import { registerImport } from './import.js';
import { registerExplain } from './explain.js';
import { registerStatus } from './status.js';
import { addGlobalOptions } from './runtime.js';
import { examples } from './help.js';
import { VERSION } from '../version.js';

/**
 * Each command registers itself on the program and reports its exit code through `setExit`.
 * Commands never call process.exit: the caller decides what to do with the code.
 */
export type Register = (program: Command, io: CliIo, setExit: (code: number) => void) => void;

/** Builds the `depctl` command tree bound to the given io. */
export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('depctl')
    .description('GitOps for Apple Automated Device Enrollment (DEP)')
    .version(VERSION, '--version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .exitOverride();
  addGlobalOptions(program);
  program.addHelpText('after', examples([
    ['depctl quickstart', 'try it: the simulator, a local repository of examples/ and the controller'],
    ['depctl validate config/ && depctl plan config/', 'check a config repository, then see what apply would change'],
    ['depctl run --repo https://github.com/acme/dep-config', 'keep Apple in line with a repository'],
  ]));
  for (const register of [registerValidate, registerPlan, registerApply, registerRun, registerQuickstart, registerImport, registerExplain, registerStatus, registerKeys, registerToken, registerSim] satisfies Register[]) {
    register(program, io, setExit);
  }
  // Output and exits of every command, nested ones included, go through io (commands never exit the process).
  const route = (cmd: Command): void => {
    cmd.exitOverride().configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
    cmd.commands.forEach(route);
  };
  program.commands.forEach(route);
  return program;
}

/** Runs `depctl` with the given arguments (without node and script) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = ExitCode.ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (err instanceof UsageError) {
      io.stderr(`depctl: ${err.message}\n`);
      return ExitCode.usage;
    }
    io.stderr(`depctl: ${err instanceof Error ? err.message : String(err)}\n`);
    return ExitCode.failure;
  }
}
