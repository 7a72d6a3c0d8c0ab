/**
 * A realistic controller status for server tests: two MDM servers (one with a token close to expiry,
 * drift and deferred serials; one that failed), a refused revision and a few runs. Times are relative
 * to `now` so token days and "ago" hints stay consistent.
 */
import type { ControllerStatus } from '../../../controller/reconcile/status.js';

const DAY = 86_400_000;

/** Builds the sample status as seen at `now`. */
export function sampleStatus(now: Date): ControllerStatus {
  const at = (ms: number): string => new Date(now.getTime() + ms).toISOString();
  return {
    phase: 'idle',
    leader: true,
    conditions: [
      { type: 'Ready', status: 'False', reason: 'PartialApply', message: 'revision 3f2a9c1d4e5b applied partly; deferred serials are retried at 14:05', lastTransitionTime: at(-20 * 60_000) },
      { type: 'Reconciling', status: 'False', reason: 'Done', message: 'last pass: partial', lastTransitionTime: at(-19 * 60_000) },
      { type: 'Stalled', status: 'False', reason: 'NotStalled', message: '', lastTransitionTime: at(-3 * DAY) },
    ],
    lastAppliedRevision: '3f2a9c1d4e5b6a7980a1b2c3d4e5f60718293a4b',
    lastAttemptedRevision: '3f2a9c1d4e5b6a7980a1b2c3d4e5f60718293a4b',
    refusedRevision: { revision: '9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291807', message: 'assignments/labs.yaml:12:5: unknown profile "science-macs"' },
    nextRunAt: at(4 * 60_000),
    lastError: null,
    servers: [
      {
        name: 'paris',
        tokenExpiresAt: at(21 * DAY + 3_600_000),
        tokenDaysLeft: 21,
        devices: 1234,
        devicesByProfile: { 'classroom-ipads': 800, 'staff-macs': 400, 'science & "labs"': 20, '(none)': 14 },
        devicesByResult: { success: 1190, throttled: 40, 'not-accessible': 4 },
        drift: [
          { kind: 'profile-changed', message: '3 device(s) now carry "Other MDM" instead of "classroom-ipads"', count: 3, current: 'Other MDM', desired: 'classroom-ipads', since: at(-2 * DAY) },
          { kind: 'serials-not-seen', message: 'serials in config that the server does not see', count: 2, current: null, desired: 'staff-macs', since: null },
          { kind: 'profile-changed', message: 'profile removed in the portal', count: 1, current: null, desired: 'staff-macs', since: at(-3 * 3_600_000) },
        ],
        deferred: 40,
        retries: [
          { until: at(5 * 60_000), lastStatus: 'THROTTLED', attempts: 0, count: 37 },
          { until: at(55 * 60_000), lastStatus: 'FAILED', attempts: 2, count: 3 },
        ],
        migrationDeadlines: { devices: 12, earliest: at(3 * DAY) },
        lastSyncAt: at(-5 * 60_000),
        state: 'partial',
        problem: null,
        account: { serverUuid: '6666ED66666666666666666666666666', serverName: 'Paris MDM', orgName: 'Lycée Voltaire', orgType: 'edu', orgId: '6666666', checkedAt: at(-5 * 60_000) },
      },
      {
        name: 'lyon',
        tokenExpiresAt: at(200 * DAY),
        tokenDaysLeft: 200,
        devices: 56,
        devicesByProfile: { 'staff-macs': 50, '(other)': 6 },
        devicesByResult: { success: 56 },
        drift: [],
        deferred: 0,
        retries: null,
        migrationDeadlines: { devices: 0, earliest: null },
        lastSyncAt: at(-2 * 3_600_000),
        state: 'stopped',
        problem: { server: 'lyon', kind: 'terminal', reason: 'T_C_NOT_SIGNED', message: 'T_C_NOT_SIGNED: the Apple Business Manager terms and conditions must be accepted', retryAt: null },
        account: null,
      },
    ],
    recentRuns: [
      { id: 42, startedAt: at(-20 * 60_000), finishedAt: at(-20 * 60_000 + 12_400), commit: '3f2a9c1d4e5b6a7980a1b2c3d4e5f60718293a4b', trigger: 'webhook', result: 'partial', counts: { assigned: 160, throttled: 40, failed: 0, defined: 1 } },
      { id: 41, startedAt: at(-80 * 60_000), finishedAt: at(-80 * 60_000 + 900), commit: '1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d', trigger: 'schedule', result: 'noop', counts: {} },
      { id: 40, startedAt: at(-3 * DAY), finishedAt: at(-3 * DAY + 95_000), commit: '1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d', trigger: 'git', result: 'success', counts: { assigned: 1234, defined: 2 } },
    ],
    version: '0.1.0',
  };
}
