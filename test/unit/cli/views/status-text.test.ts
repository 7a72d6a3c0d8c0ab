import { describe, expect, it } from 'vitest';
import { renderStatusText } from '../../../../controller/cli/views/status-text.js';
import { renderStatusJson } from '../../../../controller/cli/views/status-json.js';
import type { StatusReport } from '../../../../controller/cli/views/status-common.js';
import type { ServerStatus } from '../../../../controller/reconcile/status.js';
import { sampleStatus } from '../../server/sample-status.js';

const NOW = new Date('2026-12-06T14:00:00Z');

function fromController(): StatusReport {
  const { servers, recentRuns, ...controller } = sampleStatus(NOW);
  return { source: { kind: 'controller', url: 'http://127.0.0.1:8080/api/status' }, generatedAt: NOW.toISOString(), controller, servers, recentRuns };
}

const storeServer: ServerStatus = {
  name: 'main',
  tokenExpiresAt: '2026-12-10T00:00:00.000Z',
  tokenDaysLeft: 3,
  devices: 11,
  devicesByProfile: { ipads: 6, macs: 5 },
  devicesByResult: { success: 9, failed: 2 },
  drift: [],
  deferred: 2,
  retries: [{ until: '2026-12-06T14:15:00.000Z', lastStatus: 'FAILED', attempts: 1, count: 2 }],
  migrationDeadlines: { devices: 0, earliest: null },
  lastSyncAt: '2026-12-06T13:58:00.000Z',
  state: null,
  problem: null,
  account: { serverUuid: '0123456789ABCDEF0123456789ABCDEF', serverName: 'Main MDM', orgName: 'Example School', orgType: 'edu', orgId: '42', checkedAt: '2026-12-06T13:58:00.000Z' },
};

describe('renderStatusText', () => {
  it('from the store: conditions and revisions are unknown, never invented', () => {
    const report: StatusReport = {
      source: { kind: 'store', backend: 'sqlite' },
      generatedAt: NOW.toISOString(),
      controller: null,
      servers: [storeServer],
      recentRuns: [{ id: 3, startedAt: '2026-12-06T13:50:00.000Z', finishedAt: '2026-12-06T13:50:04.000Z', commit: 'abcdef0123456789abcdef0123456789abcdef01', trigger: 'cli', result: 'partial', counts: { assigned: 9, failed: 2, throttled: 0, defined: 2 } }],
    };
    expect(renderStatusText(report, { now: NOW })).toBe(`depctl status from the state store (sqlite); no controller asked, 2026-12-06 14:00:00 UTC

Conditions: unknown (no controller asked; use --url)
Revisions:  unknown (no controller asked; use --url)

Server main (Main MDM 0123456789ABCDEF0123456789ABCDEF, Example School (edu))
  token expires   2026-12-10 00:00:00 UTC, 3 d left (renew now)
  last sync       2026-12-06 13:58:00 UTC (2 min ago)
  devices         11
    ipads          6
    macs           5
  last results    success 9 · failed 2
  deferred        2 serials
    next try 2026-12-06 14:15:00 UTC (in 15 min)  after FAILED, 1 failed attempt: 2 devices
  drift           none known (drift is found by a pass; use --url for the controller's)

Recent runs (newest first): id, started, took, trigger, commit, result, counts
  #3     2026-12-06 13:50:00 UTC    4.0 s  cli       abcdef012345  partial  assigned 9 · defined 2 · failed 2
`);
  });

  it('from a controller: conditions, revisions, servers with drift, retries and problems, runs', () => {
    expect(renderStatusText(fromController(), { now: NOW })).toBe(`depctl status from the controller at http://127.0.0.1:8080/api/status, 2026-12-06 14:00:00 UTC
phase idle · leader · version 0.1.0

Conditions:
  Ready       False   PartialApply: revision 3f2a9c1d4e5b applied partly; deferred serials are retried at 14:05 (since 2026-12-06 13:40:00 UTC (20 min ago))
  Reconciling False   Done: last pass: partial (since 2026-12-06 13:41:00 UTC (19 min ago))
  Stalled     False   NotStalled (since 2026-12-03 14:00:00 UTC (3 d ago))

Revisions:
  last applied    3f2a9c1d4e5b
  last attempted  3f2a9c1d4e5b
  refused         9e8d7c6b5a4f: assignments/labs.yaml:12:5: unknown profile "science-macs"
  next run        2026-12-06 14:04:00 UTC (in 4 min)

Server paris (Paris MDM 6666ED66666666666666666666666666, Lycée Voltaire (edu))
  state           partial
  token expires   2026-12-27 15:00:00 UTC, 21 d left (renew soon)
  last sync       2026-12-06 13:55:00 UTC (5 min ago)
  devices         1,234
    classroom-ipads         800
    staff-macs              400
    science & "labs"         20
    (none)                   14
  last results    success 1,190 · throttled 40 · not-accessible 4
  deferred        40 serials
    next try 2026-12-06 14:05:00 UTC (in 5 min)  after THROTTLED: 37 devices
    next try 2026-12-06 14:55:00 UTC (in 55 min)  after FAILED, 2 failed attempts: 3 devices
  MDM migration   12 devices with a deadline, earliest 2026-12-09 14:00:00 UTC (in 3 d)
  drift           6 items
    profile-changed  3  "Other MDM" → "classroom-ipads" since 2026-12-04 14:00:00 UTC (2 d ago): 3 device(s) now carry "Other MDM" instead of "classroom-ipads"
    serials-not-seen  2  none → "staff-macs": serials in config that the server does not see
    profile-changed  1  none → "staff-macs" since 2026-12-06 11:00:00 UTC (3 h ago): profile removed in the portal

Server lyon (Apple server not known yet)
  state           stopped
  problem         terminal T_C_NOT_SIGNED: T_C_NOT_SIGNED: the Apple Business Manager terms and conditions must be accepted
  token expires   2027-06-24 14:00:00 UTC, 200 d left
  last sync       2026-12-06 12:00:00 UTC (2 h ago)
  devices         56
    staff-macs         50
    (other)             6
  last results    success 56
  deferred        none
  drift           none

Recent runs (newest first): id, started, took, trigger, commit, result, counts
  #42    2026-12-06 13:40:00 UTC     12 s  webhook   3f2a9c1d4e5b  partial  assigned 160 · throttled 40 · defined 1
  #41    2026-12-06 12:40:00 UTC    0.9 s  schedule  1a2b3c4d5e6f  noop     no changes
  #40    2026-12-03 14:00:00 UTC    2 min  git       1a2b3c4d5e6f  success  assigned 1,234 · defined 2
`);
  });

  it('JSON keeps the controller part null when only the store was read', () => {
    const json = JSON.parse(renderStatusJson({ source: { kind: 'store', backend: 'memory' }, generatedAt: NOW.toISOString(), controller: null, servers: [], recentRuns: [] })) as unknown;
    expect(json).toEqual({ source: { kind: 'store', backend: 'memory' }, generatedAt: '2026-12-06T14:00:00.000Z', controller: null, servers: [], recentRuns: [] });
  });
});
