import { execFile } from 'node:child_process';

/** What git says about some paths of a work tree. */
export interface GitPathStatus {
  /** Paths git tracks (in the index), as given. */
  tracked: ReadonlySet<string>;
  /** Untracked paths that .gitignore (or info/exclude, core.excludesFile) ignores, as given. */
  ignored: ReadonlySet<string>;
}

/** Bounds of each git call: validate must not hang on a slow or huge repository. */
const GIT_TIMEOUT_MS = 10_000;
const GIT_MAX_OUTPUT = 4 * 1024 * 1024;

/** Result of one git call: its output, or the exit code it failed with (undefined: git did not run). */
type GitRun = { ok: true; stdout: string } | { ok: false; code: number | undefined };

function runGit(cwd: string, args: readonly string[], input?: string): Promise<GitRun> {
  return new Promise((resolve) => {
    const child = execFile('git', args, { cwd, timeout: GIT_TIMEOUT_MS, maxBuffer: GIT_MAX_OUTPUT, windowsHide: true }, (err, stdout) => {
      if (!err) resolve({ ok: true, stdout });
      else resolve({ ok: false, code: typeof err.code === 'number' ? err.code : undefined });
    });
    // git may exit before reading all of its input (not a repository); that is reported through its exit code.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
}

function nulList(out: string): Set<string> {
  return new Set(out.split('\0').filter((p) => p !== ''));
}

/**
 * Asks git which of `paths` (relative to `dir`, `/`-separated) it tracks and which it ignores. Undefined when
 * `dir` is not inside a git work tree, git is not installed, or git fails or times out: then nothing is known
 * to be ignored. `git check-ignore` never reports a tracked file, so a committed secret stays a finding even
 * when .gitignore matches it now.
 */
export async function gitPathStatus(dir: string, paths: readonly string[]): Promise<GitPathStatus | undefined> {
  if (paths.length === 0) return { tracked: new Set(), ignored: new Set() };
  // ls-files fails (128) outside a work tree, which is how "not a git repository" is detected.
  // Literal pathspecs: a `*` in a file name is no wildcard (check-ignore takes plain paths and refuses the flag).
  const tracked = await runGit(dir, ['--literal-pathspecs', 'ls-files', '-z', '--', ...paths]);
  if (!tracked.ok) return undefined;
  // check-ignore exits 1 when no path is ignored; 128 is a real failure. -z needs the paths on stdin.
  const ignored = await runGit(dir, ['check-ignore', '-z', '--stdin'], paths.map((p) => `${p}\0`).join(''));
  if (!ignored.ok && ignored.code !== 1) return undefined;
  return { tracked: nulList(tracked.stdout), ignored: ignored.ok ? nulList(ignored.stdout) : new Set() };
}
