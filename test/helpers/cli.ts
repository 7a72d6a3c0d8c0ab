import type { CliIo } from '../../controller/cli/io.js';
import { runCli } from '../../controller/cli/program.js';

/** Result of running the CLI in-process. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `depctl ARGS` in-process with captured output. */
export async function runDepctl(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; now?: () => Date } = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    env: opts.env ?? {},
    cwd: opts.cwd ?? process.cwd(),
    ...(opts.now ? { now: opts.now } : {}),
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}
