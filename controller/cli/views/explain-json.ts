/**
 * The machine view of `depctl explain --format json`: the ExplainReport as it is (version 1), one document
 * with a trailing newline. It shares nothing with the text view but the type (STYLE rule 7).
 */
import type { ExplainReport } from '../../reconcile/explain.js';

/** Renders the report as JSON. */
export function renderExplainJson(report: ExplainReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
