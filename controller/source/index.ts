/**
 * The controller's config repository source (issue 5): `createGitSource` for the loop, `parseRepoSpec`
 * and `isValidGitRef` for the CLI flags, and the typed error both see.
 */
export { createGitSource, type GitSource, type GitSourceOptions, type GitSyncResult } from './git-source.js';
export { GitSourceError, isGitSourceError, type GitSourceErrorKind } from './errors.js';
export type { GitAuth } from './git-env.js';
export { isCommitId, isValidGitRef, normaliseSubdir, parseRepoSpec, parseRepoUrl, type RepoKind, type RepoLocation, type RepoSpec } from './repo-spec.js';
export { redactGitText } from './redact-git.js';
