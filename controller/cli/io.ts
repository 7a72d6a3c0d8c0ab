/**
 * The process edges a command may touch: output streams, environment and working directory.
 * Commands receive this instead of reading `process` so tests can run them in-process.
 */
export interface CliIo {
  /** Writes to standard output (text is written as-is; add newlines yourself). */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** The environment, read once at the edge. */
  env: Readonly<Record<string, string | undefined>>;
  /** The working directory against which relative paths resolve. */
  cwd: string;
  /** Aborted when the process is asked to stop (SIGINT/SIGTERM) for long-running commands. */
  signal?: AbortSignal;
  /** Asks the person at the terminal a yes/no question; absent when there is no terminal. */
  confirm?: (question: string) => Promise<boolean>;
  /** Current time; tests pass a fixed clock. */
  now?: () => Date;
  /** True when standard error is a terminal: progress lines are drawn there only then. */
  isTTY?: boolean;
}

/** Exit codes shared by every command (DESIGN.md: 0 ok, 1 invalid or failed, 2 usage). */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
} as const;

/** Thrown by a command to end with a usage error (exit 2) and a message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Builds a CliIo on top of the real process. Only main.ts calls it. */
export function processIo(): CliIo {
  const io: CliIo = {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    isTTY: process.stderr.isTTY === true,
  };
  if (process.stdin.isTTY && process.stdout.isTTY) {
    io.confirm = async (question) => {
      const { createInterface } = await import('node:readline/promises');
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      try {
        return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
      } finally {
        rl.close();
      }
    };
  }
  return io;
}
