/**
 * Prometheus metrics of the controller (STYLE rule 6: the loop is observable). Everything lives in a
 * registry of its own rather than prom-client's global default, so tests and several controllers in one
 * process never share series. Counters and histograms are fed by the loop and the DEP client as things
 * happen; gauges are derived from the status snapshot when Prometheus scrapes (a collect hook on each
 * gauge), so they are never older than the snapshot itself.
 *
 * Label cardinality is bounded: server and profile names come from the config, results and drift kinds
 * from small fixed sets, `endpoint` is Apple's path without query folded onto the documented list
 * (dep-protocol.md section 3), and `status` is an HTTP status code.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ControllerStatus } from '../reconcile/status.js';
import type { RunResult } from '../reconcile/ports.js';

/** How a reconcile pass ended: the run results, plus `error` when the pass threw. */
export type RunOutcome = RunResult | 'error';

/** One HTTP exchange with Apple, as the DEP client's `onRequest` hook reports it, plus the server name. */
export interface DepRequestSample {
  /** The MdmServer name from the config. */
  server: string;
  method: string;
  /** Apple's path; a query string, if any, is dropped. */
  endpoint: string;
  /** The HTTP status, or `network-error` when no response arrived. */
  status: number | 'network-error';
  durationMs: number;
}

/** One Organization's device ownership after a pass (issue 15). */
export interface OwnershipSample {
  organization: string;
  /** Activities Apple has not finished (still open, and created by this pass). */
  openActivities: number;
  /** Devices the plan still moves or assigns (0 once applied or when nothing is left). */
  pendingMoves: number;
  /** True when the organization could not be planned (credentials, Apple unreachable, untrusted change). */
  error: boolean;
  /** Devices of activities finished in this pass that Apple moved, and that it did not move. */
  moved: number;
  notMoved: number;
}

/** The metrics the controller exposes, and the calls that feed them. */
export interface ControllerMetrics {
  /** The registry to scrape (`registry.metrics()`, `registry.contentType`). */
  readonly registry: Registry;
  /** Counts a finished reconcile pass and observes its duration. */
  recordRun(outcome: RunOutcome, seconds: number): void;
  /** Counts one request to Apple and observes its latency. */
  recordDepRequest(sample: DepRequestSample): void;
  /**
   * Counts a trigger relayed between HA replicas: `sent` (a follower's, acknowledged by the leader),
   * `received` (the leader acted on one), `failed` (a follower could not relay it and answered 503).
   */
  recordRelayedTrigger(trigger: 'manual' | 'webhook', direction: 'sent' | 'received' | 'failed'): void;
  /** Counts one enrollment attempt at `POST /enroll/PROFILE` (issue 14) by profile and outcome. */
  recordEnrollment(profile: string, outcome: string): void;
  /** Counts a failed authentication on `route` (`api`, `plan`, `webhook`, `read`); `blocked` when the client was made to wait (429). */
  recordAuthFailure(route: string, outcome: 'rejected' | 'blocked'): void;
  /** Counts a notification from the outbox: delivered, a failed attempt (retried), or dropped after the retention. */
  recordNotification(outcome: 'sent' | 'failed' | 'expired'): void;
  /** Sets the number of unsent notifications in the outbox. */
  setNotificationBacklog(unsent: number): void;
  /**
   * Device ownership of one Organization after a pass (issue 15): open activities, devices still to move, whether
   * it could not be planned, and the devices finished activities moved or did not move (counted).
   */
  recordOwnership(sample: OwnershipSample): void;
  /** Sets every status-derived gauge from a snapshot, dropping series of servers or profiles that went away. */
  updateFromStatus(status: ControllerStatus): void;
  /** Makes each scrape read the gauges from `source` first (the control server binds the loop's snapshot). */
  setStatusSource(source: (() => ControllerStatus) | undefined): void;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Adds Node's default process metrics (CPU, memory, event loop lag, GC) under their standard names (`process_*`, `nodejs_*`). Default true. */
  defaultMetrics?: boolean;
  /** Where status-derived gauges come from at scrape time; also settable later with `setStatusSource`. */
  status?: () => ControllerStatus;
}

/** The prefix of every series. */
export const METRIC_PREFIX = 'depctl_';

/**
 * Apple's DEP paths (dep-protocol.md section 3). Anything else is reported as `other`, so that an
 * unexpected path (or one with an id in it) cannot grow the label set.
 */
const KNOWN_ENDPOINTS: ReadonlySet<string> = new Set([
  '/session',
  '/account',
  '/server/devices',
  '/devices/sync',
  '/devices',
  '/devices/disown',
  '/device/activationlock',
  '/device/replacementDetails',
  '/profile',
  '/profile/devices',
  '/account-driven-enrollment/profile',
  '/os-beta-enrollment/tokens',
]);

/** Folds a request path onto a bounded endpoint label: no query, no trailing slash, unknown paths `other`. */
export function endpointLabel(path: string): string {
  const q = path.search(/[?#]/);
  let p = q >= 0 ? path.slice(0, q) : path;
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return KNOWN_ENDPOINTS.has(p) ? p : 'other';
}

const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'DELETE']);

/** Buckets for whole reconcile passes: a no-op takes well under a second, a first million-device fetch minutes. */
const RUN_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
/** Buckets for single DEP requests: Apple usually answers in tens to hundreds of milliseconds. */
const REQUEST_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Creates a fresh registry with all of depctl's metrics. */
export function createMetrics(opts: MetricsOptions = {}): ControllerMetrics {
  const registry = new Registry();
  let source = opts.status;
  const p = METRIC_PREFIX;

  // Each status gauge refreshes itself from the snapshot when scraped. Every gauge has its own hook because
  // prom-client collects metrics concurrently, so one hook setting the others would race with their reads.
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (g: Gauge<L>, s: ControllerStatus) => void): ((s: ControllerStatus) => void) => {
    const g: Gauge<L> = new Gauge<L>({
      name: p + name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        const s = source?.();
        if (s) apply(s);
      },
    });
    const apply = (s: ControllerStatus): void => {
      g.reset();
      fill(g, s);
    };
    return apply;
  };

  const runs = new Counter({ name: `${p}reconcile_runs_total`, help: 'Reconcile passes by outcome.', labelNames: ['outcome'], registers: [registry] });
  const runSeconds = new Histogram({ name: `${p}reconcile_duration_seconds`, help: 'Duration of reconcile passes by outcome.', labelNames: ['outcome'], buckets: RUN_BUCKETS, registers: [registry] });
  const depRequests = new Counter({ name: `${p}dep_requests_total`, help: 'HTTP requests to Apple DEP by server, method, endpoint and status.', labelNames: ['server', 'method', 'endpoint', 'status'], registers: [registry] });
  const relayed = new Counter({ name: `${p}triggers_relayed_total`, help: 'Triggers (webhook, manual) relayed between HA replicas: sent by a follower and acknowledged, received by the leader, or failed (answered 503).', labelNames: ['trigger', 'direction'], registers: [registry] });
  const enrollments = new Counter({ name: `${p}enrollments_total`, help: 'Enrollment attempts at POST /enroll/PROFILE by profile and outcome (enrolled, refused, held-for-update, bad-request), since this process started.', labelNames: ['profile', 'outcome'], registers: [registry] });
  const authFailures = new Counter({ name: `${p}auth_failures_total`, help: 'Failed authentication on the API, the webhook and the read-protected pages, by route; outcome "blocked" when the client address had to wait (429 with Retry-After).', labelNames: ['route', 'outcome'], registers: [registry] });
  const notifications = new Counter({ name: `${p}notifications_total`, help: 'Notifications from the outbox by outcome: sent, failed (an attempt, retried with backoff), expired (dropped unsent after the retention).', labelNames: ['outcome'], registers: [registry] });
  const notificationBacklog = new Gauge({ name: `${p}notifications_backlog`, help: 'Unsent notifications in the outbox, as the leader last saw them.', registers: [registry] });
  const abmOpen = new Gauge({ name: `${p}abm_activities_open`, help: 'Business API activities depctl issued that Apple has not finished, by Organization, after the last pass.', labelNames: ['organization'], registers: [registry] });
  const abmPending = new Gauge({ name: `${p}abm_pending_moves`, help: 'Devices the last pass planned to move or assign between MDM servers and did not send (refused by a guardrail, an error, or declined), by Organization.', labelNames: ['organization'], registers: [registry] });
  const abmError = new Gauge({ name: `${p}abm_organization_error`, help: '1 when the last pass could not plan the Organization (credentials, Apple unreachable, untrusted change), else 0.', labelNames: ['organization'], registers: [registry] });
  const abmDevices = new Counter({ name: `${p}abm_devices_total`, help: 'Devices of finished Business API activities by Organization and outcome: moved (Apple reported success) or not-moved (failed, stopped, missing).', labelNames: ['organization', 'outcome'], registers: [registry] });
  const depSeconds = new Histogram({ name: `${p}dep_request_duration_seconds`, help: 'Latency of HTTP requests to Apple DEP by server, method and endpoint.', labelNames: ['server', 'method', 'endpoint'], buckets: REQUEST_BUCKETS, registers: [registry] });

  const updaters = [
    gauge('devices', 'Devices assigned to the server, by current profile ((none): no profile, (other): not defined by depctl).', ['server', 'profile'], (g, s) => {
      for (const srv of s.servers) for (const [profile, n] of Object.entries(srv.devicesByProfile)) g.set({ server: srv.name, profile }, n);
    }),
    gauge('device_results', 'Devices by the result of their last assignment as the store holds it (success, throttled, failed, not-accessible, error).', ['server', 'result'], (g, s) => {
      // From the store, so the series persist across no-op passes; absent when the store could not say.
      for (const srv of s.servers) for (const [result, n] of Object.entries(srv.devicesByResult ?? {})) if (typeof n === 'number') g.set({ server: srv.name, result }, n);
    }),
    gauge('drift_items', 'Drift found by the last observation, by server and kind.', ['server', 'kind'], (g, s) => {
      for (const srv of s.servers) {
        const byKind = new Map<string, number>();
        for (const d of srv.drift) byKind.set(d.kind, (byKind.get(d.kind) ?? 0) + d.count);
        for (const [kind, n] of byKind) g.set({ server: srv.name, kind }, n);
      }
    }),
    gauge('deferred_serials', 'Serials whose next attempt waits for a retry time (THROTTLED, FAILED cool-down), from the store.', ['server'], (g, s) => {
      for (const srv of s.servers) g.set({ server: srv.name }, srv.deferred);
    }),
    gauge('token_expiry_timestamp_seconds', 'When the server token expires, in Unix seconds (absent when unknown).', ['server'], (g, s) => {
      for (const srv of s.servers) setTime(g, { server: srv.name }, srv.tokenExpiresAt);
    }),
    gauge('credential_expiry_timestamp_seconds', 'When each yearly Apple credential expires, in Unix seconds, by kind (dep-token, apns, vpp) and name (the MdmServer or Credential); absent when unknown.', ['kind', 'name'], (g, s) => {
      for (const srv of s.servers) setTime(g, { kind: 'dep-token', name: srv.name }, srv.tokenExpiresAt);
      for (const c of s.credentials ?? []) if (c.kind !== 'dep-token') setTime(g, { kind: c.kind, name: c.name }, c.expiresAt);
    }),
    gauge('last_sync_timestamp_seconds', 'Last successful fetch or sync of the server, in Unix seconds (absent before the first).', ['server'], (g, s) => {
      for (const srv of s.servers) setTime(g, { server: srv.name }, srv.lastSyncAt);
    }),
    gauge('server_error', '1 when the server could not be reconciled last time, else 0 (absent before the first pass).', ['server'], (g, s) => {
      for (const srv of s.servers) if (srv.state !== null) g.set({ server: srv.name }, srv.problem === null ? 0 : 1);
    }),
    gauge('server_problem', 'The problem that stopped the server in the last pass: 1 with its kind (terminal, transient, guardrail) and reason (e.g. T_C_NOT_SIGNED).', ['server', 'kind', 'reason'], (g, s) => {
      for (const srv of s.servers) if (srv.problem) g.set({ server: srv.name, kind: srv.problem.kind, reason: srv.problem.reason }, 1);
    }),
    gauge('server_state', 'Where the server stood after the last pass: 1 for its state (converged, waiting, partial, stopped); absent when unknown.', ['server', 'state'], (g, s) => {
      for (const srv of s.servers) if (srv.state !== null) for (const st of ['converged', 'waiting', 'partial', 'stopped'] as const) g.set({ server: srv.name, state: st }, srv.state === st ? 1 : 0);
    }),
    gauge('leader', '1 when this replica holds the leader lock (only the leader writes), else 0.', [], (g, s) => {
      g.set(s.leader ? 1 : 0);
    }),
    gauge('condition', 'Status conditions (Ready, Reconciling, Stalled): 1 for the current status value.', ['type', 'status'], (g, s) => {
      for (const c of s.conditions) for (const v of ['True', 'False', 'Unknown'] as const) g.set({ type: c.type, status: v }, c.status === v ? 1 : 0);
    }),
    gauge('refused_revision', '1 when the newest config revision failed validation and was not applied (the last good one stays in force), else 0.', [], (g, s) => {
      g.set(s.refusedRevision ? 1 : 0);
    }),
    gauge('trigger_relay_up', '1 while this replica can relay triggers to the leader (and hear relayed ones), else 0; absent when the store has no relay.', ['backend'], (g, s) => {
      if (s.relay) g.set({ backend: s.relay.backend }, s.relay.up ? 1 : 0);
    }),
    gauge('enrollment_assigned_never_enrolled', 'Devices DEP pushed a depctl-served profile to (profile_status pushed) with no enrollment attempt that succeeded, by profile; absent when unknown.', ['profile'], (g, s) => {
      for (const e of s.enrollment ?? []) if (e.assignedNeverEnrolled !== null) g.set({ profile: e.profile }, e.assignedNeverEnrolled);
    }),
    gauge('build_info', 'Always 1; the depctl version as a label.', ['version'], (g, s) => {
      g.set({ version: s.version }, 1);
    }),
  ];

  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  return {
    registry,
    recordRun(outcome, seconds) {
      runs.inc({ outcome });
      runSeconds.observe({ outcome }, seconds);
    },
    recordDepRequest(sample) {
      const endpoint = endpointLabel(sample.endpoint);
      const method = KNOWN_METHODS.has(sample.method) ? sample.method : 'other';
      depRequests.inc({ server: sample.server, method, endpoint, status: String(sample.status) });
      depSeconds.observe({ server: sample.server, method, endpoint }, sample.durationMs / 1000);
    },
    recordRelayedTrigger(trigger, direction) {
      relayed.inc({ trigger, direction });
    },
    recordEnrollment(profile, outcome) {
      enrollments.inc({ profile, outcome });
    },
    recordAuthFailure(route, outcome) {
      authFailures.inc({ route, outcome });
    },
    recordNotification(outcome) {
      notifications.inc({ outcome });
    },
    setNotificationBacklog(unsent) {
      notificationBacklog.set(unsent);
    },
    recordOwnership(s) {
      const labels = { organization: s.organization };
      abmOpen.set(labels, s.openActivities);
      abmPending.set(labels, s.pendingMoves);
      abmError.set(labels, s.error ? 1 : 0);
      if (s.moved > 0) abmDevices.inc({ ...labels, outcome: 'moved' }, s.moved);
      if (s.notMoved > 0) abmDevices.inc({ ...labels, outcome: 'not-moved' }, s.notMoved);
    },
    updateFromStatus(status) {
      for (const apply of updaters) apply(status);
    },
    setStatusSource(next) {
      source = next;
    },
  };
}

function setTime<L extends string>(g: Gauge<L>, labels: Partial<Record<L, string>>, iso: string | null): void {
  if (iso === null) return;
  const ms = Date.parse(iso);
  if (Number.isFinite(ms)) g.set(labels, ms / 1000);
}
