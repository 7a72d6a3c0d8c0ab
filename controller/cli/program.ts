import { Command, CommanderError, Help } from 'commander';
import { type CliIo, ExitCode, UsageError } from './io.js';
import { COMMANDS, invokedCommand } from './commands.js';
import { addGlobalOptions } from './runtime.js';
import { examples } from './help.js';
import { VERSION } from '../version.js';

/**
 * Each command registers itself on the program and reports its exit code through `setExit`.
 * Commands never call process.exit: the caller decides what to do with the code.
 */
export type Register = (program: Command, io: CliIo, setExit: (code: number) => void) => void;

/**
 * Builds the `depctl` command tree bound to the given io. Only the commands named in `load` are imported and
 * registered ('all': every one); the others are placeholders that give the program's help their line
 * (COMMANDS), so that `depctl --help` or `depctl validate` loads one command's modules at most.
 */
export async function buildProgram(io: CliIo, setExit: (code: number) => void, load: 'all' | readonly string[] = 'all'): Promise<Command> {
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
  const placeholders = new Map<Command, string>();
  for (const entry of COMMANDS) {
    if (load === 'all' || load.includes(entry.name)) {
      (await entry.load())(program, io, setExit);
    } else {
      // Never run: argv that invokes a command gets the real one (runCli). Its help line comes from COMMANDS.
      placeholders.set(program.command(entry.name).description(entry.summary), entry.term);
    }
  }
  if (placeholders.size > 0) {
    const help = new Help();
    program.configureHelp({ subcommandTerm: (cmd) => placeholders.get(cmd) ?? help.subcommandTerm(cmd) });
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
  try {
    // The invoked command only; every command when argv names none of them (an unknown command, or after `--`).
    const invoked = invokedCommand(argv);
    const known = invoked !== undefined && COMMANDS.some((c) => c.name === invoked);
    const load = known ? [invoked] : invoked === undefined && !argv.includes('--') ? [] : 'all';
    const program = await buildProgram(io, (c) => {
      code = c;
    }, load);
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
