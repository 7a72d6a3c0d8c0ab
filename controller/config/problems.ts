/**
 * Problems found while loading and validating a config repository. Validation returns data and never
 * throws (STYLE rule 8); every problem carries a stable code and a source location.
 */

/** How bad a problem is: errors make the config invalid, warnings do not. */
export type Severity = 'error' | 'warning';

/** A position in a file of the config repository (1-based line and column). */
export interface SourceLoc {
  /** Path relative to the config directory, with `/` separators. */
  file: string;
  line: number;
  column: number;
}

/** One problem, reported as `file:line:col: severity: message`. */
export interface Problem extends SourceLoc {
  severity: Severity;
  /** Stable identifier of the rule (see README, "Validation rules"). */
  code: ProblemCode;
  message: string;
  /** Other places involved (e.g. the first listing of a duplicated serial). */
  related?: (SourceLoc & { message: string })[];
}

/** Every rule that can report a problem. Stable: tools may match on them. */
export const PROBLEM_CODES = [
  'io-error',
  'file-too-large',
  'input-limit',
  'encoding',
  'yaml-syntax',
  'duplicate-key',
  'yaml-tab',
  'yaml-alias',
  'yaml-tag',
  'not-a-document',
  'api-version',
  'unknown-kind',
  'schema',
  'unknown-key',
  'missing-key',
  'empty-string',
  'duplicate-name',
  'unknown-reference',
  'profile-not-on-server',
  'default-profile-unused',
  'default-profile-missing',
  'profile-family',
  'flags-invalid',
  'await-unsupervised',
  'https-required',
  'insecure-dep-url',
  'language-code',
  'region-code',
  'certificate',
  'certificate-expired',
  'deprecated-skip-key',
  'removed-skip-key',
  'unknown-skip-key',
  'repeated-skip-key',
  'email-format',
  'serial-format',
  'duplicate-serial',
  'serial-file',
  'path-escape',
  'secret-in-repo',
  'secret-ref',
  'dep-url-host',
  'no-documents',
  'match-overlap',
  'anchor-certificate',
  'enrollment-mismatch',
  'enrollment-url-unresolved',
  'enrollment-missing',
  'public-url',
  'client-id-scope',
  'abm-url-host',
  'insecure-abm-url',
  'organization-missing',
  'ownership-conflict',
] as const;

/** One of PROBLEM_CODES. */
export type ProblemCode = (typeof PROBLEM_CODES)[number];

/** Collects problems; the loader and every check push into one sink. */
export class ProblemSink {
  readonly problems: Problem[] = [];

  /** Adds an error at a location. */
  error(code: ProblemCode, loc: SourceLoc, message: string, related?: Problem['related']): void {
    this.problems.push({ severity: 'error', code, message, ...loc, ...(related ? { related } : {}) });
  }

  /** Adds a warning at a location. */
  warning(code: ProblemCode, loc: SourceLoc, message: string, related?: Problem['related']): void {
    this.problems.push({ severity: 'warning', code, message, ...loc, ...(related ? { related } : {}) });
  }

  /** Number of errors so far. */
  get errorCount(): number {
    return this.problems.filter((p) => p.severity === 'error').length;
  }
}

/** Sorts problems by file, line, column, then severity, so output is stable. */
export function sortProblems(problems: readonly Problem[]): Problem[] {
  return [...problems].sort(
    (a, b) =>
      a.file.localeCompare(b.file) ||
      a.line - b.line ||
      a.column - b.column ||
      (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1) ||
      a.message.localeCompare(b.message),
  );
}
