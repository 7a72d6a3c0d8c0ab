import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { examples } from './help.js';
import type { Register } from './program.js';
import { ExitCode } from './io.js';
import { PROBLEM_FORMATS, renderGithub, renderJson, renderText, type ProblemFormat } from './views/problems.js';
import { publicUrlOption, runtimeSettings, settingsLoadOptions } from './runtime.js';

const renderers = { text: renderText, json: renderJson, github: renderGithub } as const;

/**
 * Registers `depctl validate [DIR]`: offline checks of a config repository. Prints every problem as
 * `path:line:col: severity: message`; exits 0 when valid (warnings allowed), 1 when invalid, 2 on usage errors.
 */
export const registerValidate: Register = (program, io, setExit) => {
  program
    .command('validate')
    .description('check a config repository offline: schemas, references, serials and Apple\'s rules')
    .argument('[dir]', 'config directory', '.')
    .addOption(new Option('--format <format>', 'output format').choices(PROBLEM_FORMATS).default('text'))
    .option('--warnings-as-errors', 'treat warnings as errors (exit 1 on any warning)', false)
    .addHelpText('after', examples([
      ['depctl validate config/', 'check a config repository'],
      ['depctl validate --format github .', 'annotate a pull request from a GitHub workflow'],
      ['depctl validate --warnings-as-errors --format json . > problems.json', 'fail on warnings too, as JSON'],
    ]))
    .action(async (dir: string, opts: { format: ProblemFormat; warningsAsErrors: boolean }, cmd: Command) => {
      // Imported here, not at the top, so that `depctl --help` does not load the config loader (start-up).
      const { loadConfig } = await import('../config/load.js');
      // The secrets directory the operator configured is not "secrets in the repository", even inside it.
      const settings = runtimeSettings(cmd, io);
      const result = await loadConfig(resolve(io.cwd, dir), { ...settingsLoadOptions(settings), ...publicUrlOption(io), unresolvedUrl: 'warning' });
      const valid = result.errorCount === 0 && !(opts.warningsAsErrors && result.warningCount > 0);
      io.stdout(renderers[opts.format](dir, result, valid));
      setExit(valid ? ExitCode.ok : ExitCode.failure);
    });
};
