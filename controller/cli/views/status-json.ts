/**
 * The machine view of `depctl status --format json`: the StatusReport (its `controller` is null when only the
 * state store was read: conditions and revisions are then unknown, not empty). It shares nothing with the text
 * view but the type (STYLE rule 7).
 */
import type { StatusReport } from './status-common.js';

/** Renders the report as JSON. */
export function renderStatusJson(report: StatusReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
