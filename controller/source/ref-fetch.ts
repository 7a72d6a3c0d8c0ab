/**
 * Fetches one ref of the configured repository into a scratch directory, for a plan of a pull request
 * (issue 13): never the controller's own checkout, never another repository. Only a branch name, a
 * `refs/heads/…` name, GitHub's `refs/pull/N/head` (or `/merge`), GitLab's `refs/merge-requests/N/head`, or
 * a full commit id is accepted; a commit given with a ref must be reachable from it. The scratch directory
 * is removed by `cleanup()`. Symbolic links in the fetched tree are checked out as plain files
 * (`core.symlinks=false`), so a pull request cannot point the loader at a file outside its tree.
 */
import { mkdir, mkdtemp, readdir, realpath, rm, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { simpleGit } from 'simple-git';
import { GitSourceError } from './errors.js';
import { buildGitInvocation, type GitAuth } from './git-env.js';
import { redactGitText } from './redact-git.js';
import { isCommitId, isValidGitRef, normaliseSubdir, parseRepoUrl } from './repo-spec.js';

/** Where and how to fetch; the same repository, path, auth and environment as the controller's source. */
export interface RefFetchOptions {
  url: string;
  path?: string;
  auth?: GitAuth;
  env?: Readonly<Record<string, string | undefined>>;
  /** Parent of the per-request scratch directories (created when missing). */
  scratchDir: string;
  /** Limit for the whole fetch and checkout (default 60 s). */
  timeoutMs?: number;
}

/** A fetched revision of an unmerged ref, checked out in a scratch directory. */
export interface FetchedRef {
  /** The ref as asked. */
  ref: string;
  /** The commit checked out. */
  sha: string;
  /** The config sub-directory inside the scratch checkout. */
  dir: string;
  /** Removes the scratch directory. */
  cleanup(): Promise<void>;
}

/** Commits fetched below the tip, so that a SHA given with its ref is found when a push followed it. */
const SHA_DEPTH = 50;
const LOCAL_REF = 'refs/depctl/plan';

/**
 * The remote ref to fetch for `ref`, or an error message. Branch names become `refs/heads/NAME`; full names
 * are accepted only below `refs/heads/`, or as GitHub's and GitLab's pull/merge request heads.
 */
export function remoteRefFor(ref: string): { ok: true; remote: string } | { ok: false; message: string } {
  if (isCommitId(ref)) return { ok: true, remote: ref.toLowerCase() };
  if (!isValidGitRef(ref)) return { ok: false, message: `invalid ref ${JSON.stringify(ref.slice(0, 200))}` };
  if (/^refs\/pull\/[1-9]\d{0,9}\/(head|merge)$/.test(ref) || /^refs\/merge-requests\/[1-9]\d{0,9}\/head$/.test(ref)) return { ok: true, remote: ref };
  if (ref.startsWith('refs/heads/') && ref.length > 'refs/heads/'.length) return { ok: true, remote: ref };
  if (ref.startsWith('refs/')) return { ok: false, message: `ref ${JSON.stringify(ref)} is not a branch or a pull/merge request head of the configured repository` };
  return { ok: true, remote: `refs/heads/${ref}` };
}

/**
 * Removes scratch checkouts left in `scratchDir` by a process that died during a plan. Call it only when no
 * plan is running (the plan endpoint runs one at a time).
 */
export async function clearScratch(scratchDir: string): Promise<void> {
  const entries = await readdir(scratchDir).catch(() => [] as string[]);
  await Promise.all(entries.filter((e) => e.startsWith('plan-')).map((e) => rm(join(scratchDir, e), { recursive: true, force: true })));
}

/** Fetches `ref` (and checks `sha`, when given, is reachable from it) and checks it out in a scratch directory. */
export async function fetchRef(opts: RefFetchOptions, ref: string, sha: string | undefined, signal?: AbortSignal): Promise<FetchedRef> {
  const target = remoteRefFor(ref);
  if (!target.ok) throw new GitSourceError('invalid-spec', target.message);
  if (sha !== undefined && !isCommitId(sha)) throw new GitSourceError('invalid-spec', 'sha must be a full commit id (40 hexadecimal digits)');
  const location = parseRepoUrl(opts.url);
  const invocation = buildGitInvocation(location, opts.auth, opts.env ?? {});
  const subdir = normaliseSubdir(opts.path);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const timeout = AbortSignal.timeout(timeoutMs);
  const abort = AbortSignal.any([timeout, ...(signal ? [signal] : [])]);
  await mkdir(opts.scratchDir, { recursive: true, mode: 0o700 });
  const work = await mkdtemp(join(opts.scratchDir, 'plan-'));
  const cleanup = (): Promise<void> => rm(work, { recursive: true, force: true });
  const fail = (kind: GitSourceError['kind'], text: string): GitSourceError => new GitSourceError(kind, redactGitText(`${location.url} ${ref}: ${text}`, invocation.secrets));
  const stall = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  const git = simpleGit({ baseDir: work, abort, unsafe: invocation.unsafe, config: ['advice.detachedHead=false', 'core.symlinks=false', 'core.logAllRefUpdates=false', 'http.lowSpeedLimit=1', `http.lowSpeedTime=${stall}`] }).env(invocation.env);
  const run = async (args: string[], remote: boolean): Promise<string> => {
    try {
      return await git.raw(args);
    } catch (err) {
      const text = (err instanceof Error ? err.message : String(err)).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('hint:')).join(' ');
      if (timeout.aborted) throw fail('timeout', `git ${args[0]} did not finish within ${timeoutMs} ms`);
      if (abort.aborted) throw fail('aborted', `git ${args[0]} aborted`);
      if (remote) throw fail(/couldn't find remote ref|not our ref|no such remote ref|unadvertised object/i.test(text) ? 'ref-not-found' : 'fetch-failed', `git fetch failed: ${text}`);
      throw fail('git-failed', `git ${args[0]} failed: ${text}`);
    }
  };
  try {
    await run(['init', '--quiet'], false);
    const depth = sha !== undefined && sha.toLowerCase() !== target.remote ? SHA_DEPTH : 1;
    await run(['fetch', '--quiet', '--no-tags', '--depth', String(depth), '--', location.url, `+${target.remote}:${LOCAL_REF}`], true);
    let commit = (await run(['rev-parse', '--verify', '--quiet', `${LOCAL_REF}^{commit}`], false)).trim();
    if (sha !== undefined && sha.toLowerCase() !== commit) {
      const wanted = sha.toLowerCase();
      const reachable = await git.raw(['merge-base', '--is-ancestor', wanted, LOCAL_REF]).then(() => true, () => false);
      if (!reachable) throw fail('ref-not-found', `commit ${wanted} is not among the last ${SHA_DEPTH} commits of ${ref}`);
      commit = wanted;
    }
    await run(['checkout', '--quiet', '--detach', commit], false);
    const dir = subdir === '.' ? work : join(work, subdir);
    const real = await realpath(dir).catch(() => undefined);
    const root = await realpath(work);
    if (real === undefined || !(await stat(real)).isDirectory() || (real !== root && !real.startsWith(root + sep))) throw fail('path-not-found', `the revision has no directory ${subdir}`);
    return { ref, sha: commit, dir, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
