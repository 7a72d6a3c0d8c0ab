/**
 * Parsing and validation of the config repository's location (`--repo URL|PATH`, `--branch`, `--path`).
 *
 * Everything here is pure: it decides what kind of remote a string names, strips credentials out of URLs
 * (so that they never reach `.git/config`, a log line or `describe()`), and refuses branch names and
 * sub-directories that could be read as git options or escape the checkout.
 */
import { isAbsolute, normalize, resolve, sep } from 'node:path';
import { GitSourceError } from './errors.js';

/** How git reaches the repository. `local` is a plain path on this machine. */
export type RepoKind = 'https' | 'http' | 'ssh' | 'git' | 'file' | 'local';

/** A repository location with any credentials split off. */
export interface RepoLocation {
  kind: RepoKind;
  /** The URL or absolute path handed to git: never contains a password. */
  url: string;
  /** A user name found in an http(s) URL (`https://USER:TOKEN@host/...`), decoded. */
  username?: string;
  /** A password or token found in an http(s) URL, decoded. It is a secret. */
  password?: string;
}

/** The flags of `depctl run` that name the config repository, validated. */
export interface RepoSpec {
  /** URL or absolute local path, as accepted by `createGitSource`. Credentials stay in it if given. */
  url: string;
  branch?: string;
  ref?: string;
  /** Sub-directory of the repository holding the config, normalised, `.` for the root. */
  path: string;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
/** git's scp-like syntax `[user@]host:path`: a colon before any slash (git's own rule, see git-clone(1) "GIT URLS"). */
const SCP_LIKE = /^(?:[^@/:\s]+@)?(?:\[[^\]]+\]|[^/:\s]+):(?!\/\/)/;
const HEX_COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * Classifies `repo` and removes credentials from http(s) URLs. Relative local paths are resolved against
 * `cwd`. Throws a {@link GitSourceError} of kind `invalid-spec` for unsupported schemes; the message
 * never repeats the credentials.
 */
export function parseRepoUrl(repo: string, cwd = '.'): RepoLocation {
  const trimmed = repo.trim();
  if (trimmed === '') throw new GitSourceError('invalid-spec', 'the repository URL is empty');
  // git and ssh would read a leading `-` as an option (CVE-2017-1000117); a path can be written `./-x`.
  if (trimmed.startsWith('-')) throw new GitSourceError('invalid-spec', 'the repository URL must not start with "-"');
  const scheme = SCHEME.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (SCP_LIKE.test(trimmed) && !trimmed.startsWith('.') && !trimmed.startsWith('/')) {
      if (/(^|@)-/.test(trimmed)) throw new GitSourceError('invalid-spec', 'the ssh host or user must not start with "-"');
      return { kind: 'ssh', url: trimmed };
    }
    return { kind: 'local', url: resolve(cwd, trimmed) };
  }
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    throw new GitSourceError('invalid-spec', `the repository URL (scheme ${scheme}) cannot be parsed`);
  }
  const kind = schemeKind(scheme);
  if (kind === undefined) {
    throw new GitSourceError('invalid-spec', `unsupported repository URL scheme "${scheme}" (use https, ssh, file or a path)`);
  }
  if (kind === 'ssh' || kind === 'file' || kind === 'git') {
    // An ssh user name is not a secret (git@github.com); a password in an ssh URL is never used by OpenSSH.
    parsed.password = '';
    return { kind, url: parsed.href };
  }
  const username = parsed.username === '' ? undefined : decodeURIComponent(parsed.username);
  const password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { kind, url: parsed.href, ...(username !== undefined && { username }), ...(password !== undefined && { password }) };
}

function schemeKind(scheme: string): RepoKind | undefined {
  switch (scheme) {
    case 'https':
    case 'http':
    case 'file':
    case 'git':
      return scheme;
    case 'ssh':
    case 'git+ssh':
    case 'ssh+git':
      return 'ssh';
    default:
      return undefined;
  }
}

/**
 * Tells whether `name` is a valid git ref name (a branch or tag such as `main`, `release/2026`, or a full
 * `refs/...` name), following git-check-ref-format(1). Names starting with `-` are refused too, because
 * they would be read as options on git's command line.
 */
export function isValidGitRef(name: string): boolean {
  if (name === '' || name === '@' || name.startsWith('-') || name.startsWith('/') || name.endsWith('/')) return false;
  if (name.endsWith('.') || name.includes('..') || name.includes('//') || name.includes('@{')) return false;
  // Control characters and space, then the characters git reserves for revision syntax and globs.
  if ([...name].some((c) => c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f)) return false;
  if (/[~^:?*[\\]/.test(name)) return false;
  return name.split('/').every((part) => !part.startsWith('.') && !part.endsWith('.lock'));
}

/** Tells whether `ref` names a commit by its full object id (SHA-1 or SHA-256), not a tag. */
export function isCommitId(ref: string): boolean {
  return HEX_COMMIT.test(ref);
}

/**
 * Normalises the config sub-directory: relative, inside the checkout, `/`-separated, `.` for the root.
 * Throws a {@link GitSourceError} of kind `invalid-spec` for absolute paths and paths that climb out.
 */
export function normaliseSubdir(path: string | undefined): string {
  const raw = path === undefined || path.trim() === '' ? '.' : path.trim();
  if (isAbsolute(raw)) throw new GitSourceError('invalid-spec', `--path must be relative to the repository root: ${raw}`);
  const norm = normalize(raw).split(sep).join('/').replace(/\/+$/, '');
  if (norm === '..' || norm.startsWith('../')) {
    throw new GitSourceError('invalid-spec', `--path must stay inside the repository: ${raw}`);
  }
  return norm === '' ? '.' : norm;
}

/**
 * Validates the `depctl run` flags naming the config repository. `ref` (a tag or full commit id) and
 * `branch` are mutually exclusive. Relative local paths are resolved against `cwd`; URLs are kept as
 * given (credentials included) so that `createGitSource` can split and redact them itself.
 */
export function parseRepoSpec(flags: { repo: string; branch?: string; ref?: string; path?: string }, cwd = '.'): RepoSpec {
  const location = parseRepoUrl(flags.repo, cwd);
  if (flags.branch !== undefined && flags.ref !== undefined) {
    throw new GitSourceError('invalid-spec', '--branch and --ref cannot be used together');
  }
  if (flags.branch !== undefined && (!isValidGitRef(flags.branch) || flags.branch.startsWith('refs/'))) {
    throw new GitSourceError('invalid-spec', `invalid branch name: ${JSON.stringify(flags.branch)}`);
  }
  if (flags.ref !== undefined && !isCommitId(flags.ref) && !isValidGitRef(flags.ref)) {
    throw new GitSourceError('invalid-spec', `invalid ref (expected a tag or a full commit id): ${JSON.stringify(flags.ref)}`);
  }
  return {
    url: location.kind === 'local' ? location.url : flags.repo.trim(),
    ...(flags.branch !== undefined && { branch: flags.branch }),
    ...(flags.ref !== undefined && { ref: flags.ref }),
    path: normaliseSubdir(flags.path),
  };
}
