/**
 * The one error type of the git source (STYLE rule 3): a kind the loop can branch on, a message that has
 * been scrubbed of every credential before construction, and no `cause` (simple-git's errors carry the raw
 * command line and output, which is exactly what must not reach a log).
 */

/**
 * Why a sync failed.
 * - `invalid-spec`: the URL, branch, ref, path or auth options cannot work; fix the flags.
 * - `workdir`: the checkout directory is unusable (not empty and not ours, not writable).
 * - `fetch-failed`: git could not clone or fetch (network, authentication, repository gone); transient.
 * - `ref-not-found`: the branch, tag or commit does not exist in the remote.
 * - `path-not-found`: the revision has no such sub-directory (or it is not a directory inside the checkout).
 * - `git-failed`: a local git step (reset, clean, log) failed.
 * - `timeout`: the sync took longer than `timeoutMs`; transient.
 * - `aborted`: the caller's signal fired.
 */
export type GitSourceErrorKind =
  | 'invalid-spec'
  | 'workdir'
  | 'fetch-failed'
  | 'ref-not-found'
  | 'path-not-found'
  | 'git-failed'
  | 'timeout'
  | 'aborted';

const TRANSIENT: ReadonlySet<GitSourceErrorKind> = new Set(['fetch-failed', 'timeout', 'git-failed']);

/** Most git output is short; a bounded message keeps status snapshots and logs readable. */
const MAX_MESSAGE_CHARS = 2000;

/**
 * A failed git source operation. The message is safe to log and to show in status: callers construct it
 * from already-redacted text only (see `redactGitText`).
 */
export class GitSourceError extends Error {
  override readonly name = 'GitSourceError';
  /** Whether retrying later may succeed without a change to flags or repository content. */
  readonly transient: boolean;

  constructor(
    readonly kind: GitSourceErrorKind,
    message: string,
    /** The revision the checkout was at when the error happened, when one is known (`path-not-found`). */
    readonly revision?: string,
  ) {
    super(message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS)}…[truncated]` : message);
    this.transient = TRANSIENT.has(kind);
  }
}

/** Tells whether `err` is a {@link GitSourceError}, optionally of the given kind. */
export function isGitSourceError(err: unknown, kind?: GitSourceErrorKind): err is GitSourceError {
  return err instanceof GitSourceError && (kind === undefined || err.kind === kind);
}

/**
 * Recognises git's "no such branch/tag/commit" messages. `LC_ALL=C` is set for every git process so that
 * these English texts are stable (git localises them otherwise).
 */
export function looksLikeMissingRef(gitOutput: string): boolean {
  return /Remote branch .* not found in upstream|couldn't find remote ref|not our ref|no such remote ref|unadvertised object/i.test(
    gitOutput,
  );
}
