import { posix } from 'node:path';
import type { LoadResult } from '../../config/load.js';
import type { Problem } from '../../config/problems.js';

/** Output formats of `depctl validate`. */
export const PROBLEM_FORMATS = ['text', 'json', 'github'] as const;
/** One of PROBLEM_FORMATS. */
export type ProblemFormat = (typeof PROBLEM_FORMATS)[number];

/** The stable JSON shape of `depctl validate --format json` (schemas/validate-result.schema.json). */
export interface ValidateResultJson {
  version: 1;
  directory: string;
  valid: boolean;
  errorCount: number;
  warningCount: number;
  stats: LoadResult['stats'];
  problems: (Omit<Problem, 'related'> & { related: { file: string; line: number; column: number; message: string }[] })[];
}

/** Joins the directory as the user gave it with a problem's relative path, so paths are clickable. */
function displayPath(dir: string, file: string): string {
  if (file === '.' ) return dir;
  return posix.join(dir.split('\\').join('/'), file);
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;
}

/** One-line summary: counts of documents and serials, and the verdict. */
export function summaryLine(dir: string, result: LoadResult, valid: boolean): string {
  const d = result.stats.documents;
  // Organizations (issue 15) are named only when there are some, so summaries of other configs do not change.
  const docs = `${plural(d.MdmServer, 'MdmServer')}, ${plural(d.EnrollmentProfile, 'EnrollmentProfile')}, ${plural(d.Assignment, 'Assignment')}${d.Organization > 0 ? `, ${plural(d.Organization, 'Organization')}` : ''}`;
  const counts = `${plural(result.errorCount, 'error')}, ${plural(result.warningCount, 'warning')}`;
  return `${dir}: ${valid ? 'valid' : 'invalid'} (${docs}; ${plural(result.stats.serials, 'serial')} in ${plural(result.stats.files, 'file')}; ${counts})`;
}

/** `path:line:col: severity: message [code]`, with related places as `note:` lines below. */
export function renderText(dir: string, result: LoadResult, valid: boolean): string {
  const lines: string[] = [];
  for (const p of result.problems) {
    lines.push(`${displayPath(dir, p.file)}:${p.line}:${p.column}: ${p.severity}: ${p.message} [${p.code}]`);
    for (const r of p.related ?? []) lines.push(`  ${displayPath(dir, r.file)}:${r.line}:${r.column}: note: ${r.message}`);
  }
  lines.push(summaryLine(dir, result, valid));
  return `${lines.join('\n')}\n`;
}

/** The JSON document described by ValidateResultJson. */
export function renderJson(dir: string, result: LoadResult, valid: boolean): string {
  const out: ValidateResultJson = {
    version: 1,
    directory: dir,
    valid,
    errorCount: result.errorCount,
    warningCount: result.warningCount,
    stats: result.stats,
    problems: result.problems.map((p) => ({
      severity: p.severity,
      code: p.code,
      message: p.message,
      file: displayPath(dir, p.file),
      line: p.line,
      column: p.column,
      related: (p.related ?? []).map((r) => ({ ...r, file: displayPath(dir, r.file) })),
    })),
  };
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** Escapes a GitHub workflow command's data (%, CR, LF) or property (also : and ,). */
function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** GitHub Actions workflow commands (`::error file=…,line=…,col=…::message`), then the summary. */
export function renderGithub(dir: string, result: LoadResult, valid: boolean): string {
  const lines = result.problems.map((p) => {
    const related = (p.related ?? []).map((r) => ` (see ${displayPath(dir, r.file)}:${r.line}:${r.column})`).join('');
    const props = `file=${escapeProperty(displayPath(dir, p.file))},line=${p.line},col=${p.column},title=${escapeProperty(`depctl ${p.code}`)}`;
    return `::${p.severity === 'error' ? 'error' : 'warning'} ${props}::${escapeData(p.message + related)}`;
  });
  lines.push(summaryLine(dir, result, valid));
  return `${lines.join('\n')}\n`;
}
