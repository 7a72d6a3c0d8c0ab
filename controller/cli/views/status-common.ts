/**
 * What `depctl status` renders, and the time wording shared by the terminal views of `status` and `explain`.
 * The report is the controller's status snapshot when a controller was asked (`--url`), or what the state
 * store alone can say: then the controller's part (conditions, revisions, phase) is unknown, never invented.
 */
import type { CredentialStatus } from '../../credentials/watch.js';
import type { Condition, ControllerPhase, OrganizationStatus, RunSummary, ServerStatus } from '../../reconcile/status.js';

/** Output formats of `depctl status` and `depctl explain`. */
export const STATUS_FORMATS = ['text', 'json'] as const;
/** One of STATUS_FORMATS. */
export type StatusFormat = (typeof STATUS_FORMATS)[number];

/** The controller's own part of the status: only a running controller knows it. */
export interface ControllerPart {
  phase: ControllerPhase;
  leader: boolean;
  conditions: Condition[];
  lastAppliedRevision: string | null;
  lastAttemptedRevision: string | null;
  refusedRevision: { revision: string; message: string } | null;
  nextRunAt: string | null;
  lastError: string | null;
  version: string;
}

/** What `depctl status` shows. */
export interface StatusReport {
  /** Where the figures come from: a running controller's `/api/status`, or the state store. */
  source: { kind: 'controller'; url: string } | { kind: 'store'; backend: string };
  /** When the report was made (ISO 8601). */
  generatedAt: string;
  /** Null when no controller was asked: conditions and revisions are then unknown. */
  controller: ControllerPart | null;
  servers: ServerStatus[];
  /** Every yearly credential with its expiry level (issue 16), when the controller reported them. */
  credentials?: CredentialStatus[];
  /** Device ownership per Organization (issue 15), when a controller reported it. */
  organizations?: OrganizationStatus[];
  recentRuns: RunSummary[];
}

/** What the text says instead of conditions and revisions when only the store was read. */
export const CONTROLLER_UNKNOWN = 'unknown (no controller asked; use --url)';

/** `2026-12-06 01:40:00 UTC`, or the input when it is no time. */
export function utc(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A time with a relative hint when the rendering time is known: `2026-12-06 01:40:00 UTC (in 5 min)`; `never` for null. */
export function when(iso: string | null, now: Date | undefined): string {
  if (iso === null) return 'never';
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms) || now === undefined) return utc(iso);
  const delta = ms - now.getTime();
  const hint = Math.abs(delta) < 1000 ? 'now' : delta > 0 ? `in ${duration(delta)}` : `${duration(-delta)} ago`;
  return `${utc(iso)} (${hint})`;
}

/** `4.2 s`, `12 min`, `3 h`, `5 d`. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 2 * 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}
