import type { Register } from './program.js';

/**
 * One `depctl` command as the program's help lists it, and how to load it. The program imports a command's
 * module only when argv invokes that command: `depctl --help` lists every command from this table without
 * loading ajv, undici, pg, better-sqlite3, node-forge… (issue item 4, start-up). `term` and `summary` are what
 * commander prints for the registered command; test/unit/cli/commands.test.ts checks that they still are.
 */
export interface CommandEntry {
  name: string;
  /** The command's line in the program's help: name, `[options]`, arguments. */
  term: string;
  /** Its description in the program's help. */
  summary: string;
  load: () => Promise<Register>;
}

/** Every command, in the order the program's help lists them. */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'validate',
    term: 'validate [options] [dir]',
    summary: "check a config repository offline: schemas, references, serials and Apple's rules",
    load: async () => (await import('./validate.js')).registerValidate,
  },
  {
    name: 'plan',
    term: 'plan [options] [dir]',
    summary: 'show what apply would change (reads Apple and the store; never writes to Apple)',
    load: async () => (await import('./plan.js')).registerPlan,
  },
  {
    name: 'apply',
    term: 'apply [options] [dir]',
    summary: 'make Apple match the configuration (plan, then define, assign and remove)',
    load: async () => (await import('./apply.js')).registerApply,
  },
  {
    name: 'run',
    term: 'run [options]',
    summary: 'the controller: keep Apple in line with a git repository, serve health, metrics, status and a webhook',
    load: async () => (await import('./run.js')).registerRun,
  },
  {
    name: 'quickstart',
    term: 'quickstart [options] [dir]',
    summary: 'try depctl: the built-in DEP simulator + SQLite + a local git copy of DIR, with the controller running',
    load: async () => (await import('./quickstart.js')).registerQuickstart,
  },
  {
    name: 'import',
    term: 'import [options] [dir]',
    summary: "write YAML describing one server's live profiles and assignments, and adopt them (plan then shows no changes)",
    load: async () => (await import('./import.js')).registerImport,
  },
  {
    name: 'explain',
    term: 'explain [options] <serials...>',
    summary: "why a device has (or should have) its profile: config rule, Apple's record, retries and audit history",
    load: async () => (await import('./explain.js')).registerExplain,
  },
  {
    name: 'status',
    term: 'status [options]',
    summary: 'the status page in a terminal: from a running controller (--url) or from the state store',
    load: async () => (await import('./status.js')).registerStatus,
  },
  {
    name: 'keys',
    term: 'keys',
    summary: 'key pair and certificate for DEP server tokens',
    load: async () => (await import('./keys.js')).registerKeys,
  },
  {
    name: 'token',
    term: 'token',
    summary: 'DEP server tokens (.p7m from Apple Business Manager)',
    load: async () => (await import('./token.js')).registerToken,
  },
  {
    name: 'sim',
    term: 'sim [options]',
    summary: "run the built-in DEP simulator (Apple's paths at /, admin endpoints under /_sim/); sim enroll acts as a device",
    load: async () => (await import('./sim.js')).registerSim,
  },
];

/** Global options that take a value (runtime.ts addGlobalOptions), so that their value is not a command name. */
const GLOBAL_OPTIONS_WITH_VALUE: ReadonlySet<string> = new Set(['--state', '--secrets-dir', '--user-agent']);

/**
 * The command argv invokes: its first operand after the global options (`help X` invokes X), or undefined
 * when there is none (`--help`, `--version`, no arguments, `help` alone) or after a `--`.
 */
export function invokedCommand(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return undefined;
    if (arg.startsWith('-')) {
      if (GLOBAL_OPTIONS_WITH_VALUE.has(arg)) i++;
      continue;
    }
    if (arg === 'help') return argv.slice(i + 1).find((a) => !a.startsWith('-'));
    return arg;
  }
  return undefined;
}
