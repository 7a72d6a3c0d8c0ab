/**
 * The controller's git source: a depctl-owned checkout of the config repository that `sync()` brings to
 * the remote's current revision (issue 5). The loop calls `sync()` on its poll interval and on webhooks,
 * validates the files in `dir`, and applies them only if they pass; when a sync fails, the checkout is
 * left at the last revision it reached, so the caller's last good state stays in force.
 */
import { mkdir, readdir, realpath, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { GitSourceError, isGitSourceError, looksLikeMissingRef } from './errors.js';
import { buildGitInvocation, type GitAuth } from './git-env.js';
import { redactGitText } from './redact-git.js';
import { isCommitId, isValidGitRef, normaliseSubdir, parseRepoUrl } from './repo-spec.js';

/** Options of {@link createGitSource}. */
export interface GitSourceOptions {
  /** https/ssh/file URL, scp-like `user@host:path`, or a local path. Credentials in the URL are split off. */
  url: string;
  /** Branch to follow; default: whatever the remote's HEAD (default branch) points to at each sync. */
  branch?: string;
  /** A tag name or a full commit id to pin to, instead of a branch. */
  ref?: string;
  /** Sub-directory holding the config, relative to the repository root (default `.`). */
  path?: string;
  /** The checkout directory. It is created, and must be empty or a checkout made by depctl. */
  workDir: string;
  /** Credentials; `main.ts` reads them from the environment and passes them here. */
  auth?: GitAuth;
  /** Limit for one whole sync, in milliseconds (default 120000). */
  timeoutMs?: number;
  /** Cancels every sync of this source (the controller's lifetime signal). */
  signal?: AbortSignal;
  /**
   * Environment for git child processes, normally `process.env` passed down by `main.ts` (only the edges
   * read the environment). Default: empty, so git finds itself on the system default PATH and reads no
   * user config. `GIT_*` variables other than the CA settings are not passed on.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The outcome of a successful {@link GitSource.sync}. */
export interface GitSyncResult {
  /** Full commit id now checked out. */
  revision: string;
  /** Absolute path of the config sub-directory inside the checkout. */
  dir: string;
  /** Whether `revision` differs from the previous successful sync of this source (true on the first). */
  changed: boolean;
  /** Subject line of the commit message. */
  message?: string;
  /** `Name <email>` of the commit's author. */
  author?: string;
  /** Committer date, ISO 8601. */
  committedAt?: string;
}

/** A config repository the controller loop polls. */
export interface GitSource {
  /**
   * Clones on first use, later fetches and hard-resets to the remote revision (local changes and untracked
   * files are discarded). Calls are serialised. Throws a {@link GitSourceError} whose message never
   * contains a credential; after a failed fetch the checkout still holds the last synced revision.
   */
  sync(signal?: AbortSignal): Promise<GitSyncResult>;
  /** The URL without credentials, the branch or ref, and the path: for logs and status. */
  describe(): string;
}

type Target = { kind: 'default' } | { kind: 'branch'; name: string } | { kind: 'tag'; name: string } | { kind: 'commit'; id: string };

/** Where fetched revisions land: a private ref, so the remote's branch names never matter locally. */
const TARGET_REF = 'refs/depctl/target';
const DEFAULT_TIMEOUT_MS = 120_000;
/** Lock files a killed git leaves behind; the checkout is ours and syncs are serialised, so they are stale. */
const STALE_LOCKS = ['index.lock', 'shallow.lock', 'HEAD.lock', `${TARGET_REF}.lock`];

/**
 * Creates a git source. Options are validated now: a bad URL, branch, ref, path or auth combination throws
 * a {@link GitSourceError} of kind `invalid-spec` before any git process runs.
 */
export function createGitSource(opts: GitSourceOptions): GitSource {
  const location = parseRepoUrl(opts.url);
  const target = parseTarget(opts.branch, opts.ref);
  const subdir = normaliseSubdir(opts.path);
  const workDir = resolve(opts.workDir);
  const invocation = buildGitInvocation(location, opts.auth, opts.env ?? {});
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // Killing git on timeout or abort does not kill its transport helper (git-remote-https holds the socket),
  // so curl is told to give up on a stalled transfer by itself within the same time; ssh gets the
  // equivalent options in git-env.ts.
  const stallSeconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  // No reflog: it would keep every superseded revision reachable for 90 days, so the shallow checkout
  // would grow with each commit instead of being pruned by git's automatic gc.
  const gitConfig = [
    'advice.detachedHead=false',
    'core.logAllRefUpdates=false',
    'gc.autoDetach=false',
    'http.lowSpeedLimit=1',
    `http.lowSpeedTime=${stallSeconds}`,
  ];
  const description = `${location.url} (${describeTarget(target)}, path ${subdir})`;
  let lastRevision: string | undefined;
  let firstSync = true;
  let queue: Promise<unknown> = Promise.resolve();

  const fail = (kind: GitSourceError['kind'], text: string, revision?: string): GitSourceError =>
    new GitSourceError(kind, redactGitText(`${description}: ${text}`, invocation.secrets), revision);

  async function syncOnce(callerSignal: AbortSignal | undefined): Promise<GitSyncResult> {
    try {
      return await syncSteps(callerSignal);
    } catch (err) {
      if (err instanceof GitSourceError) throw err;
      // File system errors around the checkout (permissions, full disk): paths only, no credentials.
      throw fail('workdir', err instanceof Error ? err.message : String(err));
    }
  }

  async function syncSteps(callerSignal: AbortSignal | undefined): Promise<GitSyncResult> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signals = [timeout, ...(opts.signal ? [opts.signal] : []), ...(callerSignal ? [callerSignal] : [])];
    const signal = AbortSignal.any(signals);
    if (signal.aborted) throw fail('aborted', 'sync aborted before it started');

    const git = (baseDir: string): SimpleGit =>
      simpleGit({ baseDir, abort: signal, unsafe: invocation.unsafe, config: gitConfig }).env(invocation.env);
    const run = async (baseDir: string, step: 'clone' | 'fetch' | 'local', args: string[]): Promise<string> => {
      try {
        return await git(baseDir).raw(args);
      } catch (err) {
        const text = oneLine(err instanceof Error ? err.message : String(err));
        if (timeout.aborted) throw fail('timeout', `git ${args[0]} did not finish within ${timeoutMs} ms`);
        if (signal.aborted) throw fail('aborted', `git ${args[0]} aborted`);
        if (step === 'local') throw fail('git-failed', `git ${args[0]} failed: ${text}`);
        const kind = looksLikeMissingRef(text) ? 'ref-not-found' : 'fetch-failed';
        throw fail(kind, `git ${step} failed: ${text}`);
      }
    };

    const hasCheckout = await isDirectory(join(workDir, '.git'));
    if (hasCheckout && firstSync) {
      await Promise.all(STALE_LOCKS.map((lock) => rm(join(workDir, '.git', lock), { force: true })));
    }
    firstSync = false;
    if (!hasCheckout) await assertUsableWorkDir(workDir, fail);

    if (!hasCheckout && (target.kind === 'default' || target.kind === 'branch')) {
      await mkdir(dirname(workDir), { recursive: true });
      const branchArgs = target.kind === 'branch' ? ['--branch', target.name] : [];
      await run(dirname(workDir), 'clone', ['clone', '--quiet', '--depth', '1', '--single-branch', '--no-tags', ...branchArgs, '--', location.url, workDir]);
    } else {
      if (!hasCheckout) {
        await mkdir(workDir, { recursive: true });
        await run(workDir, 'local', ['init', '--quiet']);
      }
      const head = hasCheckout ? await currentRevision(workDir, run) : undefined;
      // A pinned commit never moves: no need to ask the remote again.
      if (!(target.kind === 'commit' && head === target.id)) {
        // `+` accepts rewritten history (force pushes); the URL is passed directly, so `.git/config` never
        // needs a remote and a changed `--repo` takes effect at once.
        await run(workDir, 'fetch', ['fetch', '--quiet', '--depth', '1', '--no-tags', '--', location.url, `+${sourceRef(target)}:${TARGET_REF}`]);
      }
      await run(workDir, 'local', ['reset', '--hard', '--quiet', target.kind === 'commit' && head === target.id ? 'HEAD' : TARGET_REF]);
    }
    // Untracked files (left by a person or a tool) would otherwise be loaded as config.
    await run(workDir, 'local', ['clean', '-ffdxq']);

    const revision = await currentRevision(workDir, run);
    if (revision === undefined) throw fail('ref-not-found', 'the remote repository has no commits');
    const dir = await configDir(workDir, subdir, (text) => fail('path-not-found', text, revision));
    const info = await run(workDir, 'local', ['log', '-1', '--format=%an <%ae>%x00%cI%x00%s', 'HEAD']);
    const [author, committedAt, message] = info.replace(/\n$/, '').split('\0');
    const changed = revision !== lastRevision;
    lastRevision = revision;
    return { revision, dir, changed, ...(message !== undefined && { message }), ...(author && { author }), ...(committedAt && { committedAt }) };
  }

  return {
    sync(signal?: AbortSignal): Promise<GitSyncResult> {
      // Two git processes in one checkout would fight over its lock files; queue them instead.
      const next = queue.then(() => syncOnce(signal));
      queue = next.catch(() => undefined);
      return next;
    },
    describe: () => description,
  };
}

/** git's multi-line stderr as one log-friendly line, without hints and blank lines. */
function oneLine(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('hint:'))
    .join(' ');
}

function parseTarget(branch: string | undefined, ref: string | undefined): Target {
  if (branch !== undefined && ref !== undefined) throw new GitSourceError('invalid-spec', 'branch and ref cannot both be set');
  if (branch !== undefined) {
    if (!isValidGitRef(branch) || branch.startsWith('refs/')) throw new GitSourceError('invalid-spec', `invalid branch name: ${JSON.stringify(branch)}`);
    return { kind: 'branch', name: branch };
  }
  if (ref !== undefined) {
    if (isCommitId(ref)) return { kind: 'commit', id: ref };
    if (!isValidGitRef(ref)) throw new GitSourceError('invalid-spec', `invalid ref (a tag or a full commit id): ${JSON.stringify(ref)}`);
    return { kind: 'tag', name: ref };
  }
  return { kind: 'default' };
}

function sourceRef(target: Target): string {
  switch (target.kind) {
    case 'default':
      return 'HEAD';
    case 'branch':
      return `refs/heads/${target.name}`;
    case 'tag':
      return target.name.startsWith('refs/') ? target.name : `refs/tags/${target.name}`;
    case 'commit':
      return target.id;
  }
}

function describeTarget(target: Target): string {
  switch (target.kind) {
    case 'default':
      return 'default branch';
    case 'branch':
      return `branch ${target.name}`;
    case 'tag':
      return `tag ${target.name}`;
    case 'commit':
      return `commit ${target.id}`;
  }
}

type Run = (baseDir: string, step: 'local', args: string[]) => Promise<string>;

/** The commit at HEAD, or undefined in a repository without commits. */
async function currentRevision(workDir: string, run: Run): Promise<string | undefined> {
  // `rev-parse --verify --quiet` exits 1 without output when there is no commit yet; aborts still propagate.
  const out = (
    await run(workDir, 'local', ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}']).catch((err: unknown) => {
      if (isGitSourceError(err, 'git-failed')) return '';
      throw err;
    })
  ).trim();
  return out === '' ? undefined : out;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/** Refuses to clone over a directory that holds something else: `--work-dir $HOME` must not be wiped. */
async function assertUsableWorkDir(workDir: string, fail: (kind: 'workdir', text: string) => GitSourceError): Promise<void> {
  const st = await stat(workDir).catch(() => undefined);
  if (st === undefined) return;
  if (!st.isDirectory()) throw fail('workdir', `work directory ${workDir} is not a directory`);
  if ((await readdir(workDir)).length > 0) {
    throw fail('workdir', `work directory ${workDir} is not empty and is not a depctl checkout; refusing to overwrite it`);
  }
}

/** Resolves the config sub-directory and checks that it exists and stays inside the checkout, symlinks included. */
async function configDir(workDir: string, subdir: string, fail: (text: string) => GitSourceError): Promise<string> {
  const dir = subdir === '.' ? workDir : join(workDir, subdir);
  const real = await realpath(dir).catch(() => undefined);
  if (real === undefined || !(await isDirectory(real))) throw fail(`the revision has no directory ${subdir}`);
  const root = await realpath(workDir);
  if (real !== root && !real.startsWith(root + sep)) throw fail(`${subdir} points outside the repository`);
  return dir;
}
