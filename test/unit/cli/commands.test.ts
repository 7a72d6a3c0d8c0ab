import { Command, Help } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMANDS, invokedCommand } from '../../../controller/cli/commands.js';
import { buildProgram } from '../../../controller/cli/program.js';
import type { CliIo } from '../../../controller/cli/io.js';
import { runDepctl } from '../../helpers/cli.js';

const io: CliIo = { stdout: () => {}, stderr: () => {}, env: {}, cwd: process.cwd() };

describe('lazily loaded commands', () => {
  it.each(COMMANDS.map((c) => [c.name, c] as const))('%s: the help line in COMMANDS is the registered command\'s', async (name, entry) => {
    const program = new Command('depctl');
    (await entry.load())(program, io, () => {});
    const cmd = program.commands.find((c) => c.name() === name);
    expect(cmd, name).toBeDefined();
    const help = new Help();
    expect(entry.term).toBe(help.subcommandTerm(cmd!));
    expect(entry.summary).toBe(help.subcommandDescription(cmd!));
  });

  it('depctl --help prints what the program with every command loaded prints', async () => {
    let full = '';
    const program = await buildProgram({ ...io, stdout: (s) => (full += s) }, () => {}, 'all');
    program.outputHelp();
    const lazy = await runDepctl(['--help']);
    expect(lazy.code).toBe(0);
    expect(lazy.stdout).toBe(full);
  });

  it('finds the invoked command after global options, through help, and not after --', () => {
    expect(invokedCommand(['validate', 'examples'])).toBe('validate');
    expect(invokedCommand(['--state', 'memory:', '--secrets-dir=s', 'plan', '--help'])).toBe('plan');
    expect(invokedCommand(['help', 'apply'])).toBe('apply');
    expect(invokedCommand(['help'])).toBeUndefined();
    expect(invokedCommand(['--help'])).toBeUndefined();
    expect(invokedCommand(['--version'])).toBeUndefined();
    expect(invokedCommand(['--', 'validate'])).toBeUndefined();
  });

  it('a command reached through `help` shows its own help, options included', async () => {
    const r = await runDepctl(['help', 'validate']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: depctl validate \[options\] \[dir\]/);
    expect(r.stdout).toContain('--warnings-as-errors');
  });

  it('an unknown command is still refused with a suggestion (exit 2)', async () => {
    const r = await runDepctl(['valdate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'valdate'");
    expect(r.stderr).toContain('validate');
  });
});
