/**
 * Real git repositories for the git source tests: a bare "remote" and a working clone that commits and
 * pushes, all under a temporary directory, with a private HOME so the developer's git config never leaks in.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** A bare remote plus a working clone used to make commits. */
export interface GitFixture {
  root: string;
  /** Path of the bare repository (the remote the source syncs from). */
  bare: string;
  /** The environment the source under test should get (private HOME, PATH). */
  env: Record<string, string>;
  /** A fresh path for a source checkout (not created). */
  workDir(name?: string): string;
  /** Writes (or deletes, for null) files in the working clone, commits and pushes; returns the commit id. */
  commit(files: Record<string, string | null>, message?: string, opts?: { branch?: string }): Promise<string>;
  /** Runs git in the working clone (or in `cwd`) and returns trimmed stdout. */
  git(args: string[], cwd?: string): Promise<string>;
  cleanup(): Promise<void>;
}

/** Creates a bare repository whose default branch is `defaultBranch`, and a working clone of it. */
export async function createGitFixture(defaultBranch = 'main'): Promise<GitFixture> {
  const root = await mkdtemp(join(tmpdir(), 'depctl-git-'));
  const home = join(root, 'home');
  await mkdir(home);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home };
  const gitEnv = {
    ...env,
    LC_ALL: 'C',
    GIT_AUTHOR_NAME: 'Test Author',
    GIT_AUTHOR_EMAIL: 'author@example.test',
    GIT_COMMITTER_NAME: 'Test Committer',
    GIT_COMMITTER_EMAIL: 'committer@example.test',
  };
  const work = join(root, 'work');
  const bare = join(root, 'remote.git');
  const git = async (args: string[], cwd = work): Promise<string> => (await execFileAsync('git', args, { cwd, env: gitEnv })).stdout.trim();
  await git(['init', '--quiet', '--bare', '--initial-branch', defaultBranch, bare], root);
  await git(['clone', '--quiet', bare, work], root);
  await git(['checkout', '--quiet', '-B', defaultBranch]);
  let n = 0;
  return {
    root,
    bare,
    env,
    workDir: (name = `checkout-${++n}`) => join(root, name),
    git,
    async commit(files, message = 'change', opts = {}) {
      const branch = opts.branch ?? defaultBranch;
      for (const [file, content] of Object.entries(files)) {
        const path = join(work, file);
        if (content === null) await rm(path, { recursive: true, force: true });
        else {
          await mkdir(dirname(path), { recursive: true });
          await writeFile(path, content);
        }
      }
      await git(['add', '--all']);
      await git(['commit', '--quiet', '--allow-empty', '-m', message]);
      await git(['push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${branch}`]);
      return git(['rev-parse', 'HEAD']);
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
