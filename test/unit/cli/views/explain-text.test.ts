import { describe, expect, it } from 'vitest';
import { renderExplainText } from '../../../../controller/cli/views/explain-text.js';
import { renderExplainJson } from '../../../../controller/cli/views/explain-json.js';
import type { ExplainReport, ServerExplanation } from '../../../../controller/reconcile/explain.js';

const NOW = new Date('2026-12-06T12:00:00Z');
const UUID = 'AAAA0000000000000000000000000001';

const paris: ServerExplanation = {
  server: 'paris',
  found: true,
  desired: { kind: 'profile', profile: 'ipads', source: 'serial', assignment: 'carts', priority: null, defaultFamily: null, location: { file: 'assignments/carts.yaml', line: 3, column: 1 } },
  stored: { profile: { uuid: 'FFFF0000000000000000000000000009', name: null, current: false }, profileStatus: 'assigned', profileAssignTime: null, opType: 'modified', opDate: '2026-12-05T10:00:00Z', model: 'iPad Air', deviceFamily: 'iPad', os: 'iPadOS', description: null, observedAt: '2026-12-06T11:00:00.000Z' },
  live: { error: 'the server token of "paris" expired on 2026-12-01; download a new token in Apple Business Manager' },
  retry: { lastResult: { status: 'failed', appleStatus: 'FAILED', at: '2026-12-06T11:45:00.000Z' }, attempts: 2, retryNotBefore: '2026-12-06T12:45:00.000Z', deferred: true },
  arrivedAt: '2026-12-06T11:30:00.000Z',
  history: {
    more: 3,
    entries: [
      { seq: 4, at: '2026-12-06T11:40:00.000Z', runId: 7, commit: 'abcdef0123456789abcdef0123456789abcdef01', action: 'assign', before: 'FFFF0000000000000000000000000009', after: UUID, beforeProfile: null, afterProfile: 'ipads', outcome: 'pending', appleStatus: null },
      { seq: 5, at: '2026-12-06T11:45:00.000Z', runId: 7, commit: 'abcdef0123456789abcdef0123456789abcdef01', action: 'assign', before: 'FFFF0000000000000000000000000009', after: UUID, beforeProfile: null, afterProfile: 'ipads', outcome: 'failed', appleStatus: 'FAILED' },
    ],
  },
};

const report: ExplainReport = {
  version: 1,
  generatedAt: NOW.toISOString(),
  live: true,
  serials: [
    { input: 'c02cart00001', serial: 'C02CART00001', problem: null, found: true, serversAsked: ['paris', 'lyon'], servers: [paris] },
    {
      input: 'C02GONE00001', serial: 'C02GONE00001', problem: null, found: false, serversAsked: ['paris', 'lyon'],
      servers: [{ server: 'lyon', found: false, desired: { kind: 'unknown', listedIn: [{ assignment: 'carts', profile: 'ipads', location: { file: 'assignments/carts.yaml', line: 3, column: 1 } }] }, stored: null, live: { status: 'NOT_ACCESSIBLE', device: null }, retry: null, arrivedAt: null, history: { entries: [], more: 0 } }],
    },
    { input: 'no such!', serial: null, problem: '"no such!" is not a serial number (it contains spaces; list one serial per item)', found: false, serversAsked: ['paris', 'lyon'], servers: [] },
  ],
};

describe('renderExplainText', () => {
  it('renders the rule and its config line, what Apple has, retries, arrival, history; unknown and invalid serials', () => {
    expect(renderExplainText(report, { now: NOW, pathPrefix: 'config/' })).toBe(`C02CART00001
  server paris
    should have:  "ipads": listed in Assignment "carts" (config/assignments/carts.yaml:3)
    Apple has:    foreign profile FFFF0000000000000000000000000009 (not defined by depctl), profile_status assigned, op_type modified at 2026-12-05 10:00:00 UTC, iPad Air (iPadOS); observed 2026-12-06 11:00:00 UTC (1 h ago)
    Apple now:    could not ask Apple: the server token of "paris" expired on 2026-12-01; download a new token in Apple Business Manager
    last apply:   failed (FAILED) at 2026-12-06 11:45:00 UTC (15 min ago); 2 failed attempts; deferred: next try 2026-12-06 12:45:00 UTC (in 45 min)
    arrived:      2026-12-06 11:30:00 UTC (30 min ago); no successful apply since (depctl assigns a device once per arrival)
    history:      5 audited writes, the last 2 shown (3 earlier left out), newest last
      2026-12-06 11:40:00 UTC  run 7 @ abcdef012345  assign FFFF0000000000000000000000000009 → "ipads" AAAA0000000000000000000000000001  pending
      2026-12-06 11:45:00 UTC  run 7 @ abcdef012345  assign FFFF0000000000000000000000000009 → "ipads" AAAA0000000000000000000000000001  failed (FAILED)

C02GONE00001: not seen on any server (asked: paris, lyon)
  server lyon: the server does not have this device
    listed:       profile "ipads" in Assignment "carts" (config/assignments/carts.yaml:3)
    Apple now:    NOT_ACCESSIBLE (Apple's POST /devices)
    history:      no audited write

no such!: "no such!" is not a serial number (it contains spaces; list one serial per item)
`);
  });

  it('renders match, default and no-rule decisions with their config lines', () => {
    const variants: ServerExplanation['desired'][] = [
      { kind: 'profile', profile: 'ipads', source: 'match', assignment: 'all-ipads', priority: 10, defaultFamily: null, location: { file: 'rules.yaml', line: 9, column: 1 } },
      { kind: 'profile', profile: 'macs', source: 'default', assignment: null, priority: null, defaultFamily: null, location: { file: 'servers.yaml', line: 1, column: 1 } },
      { kind: 'profile', profile: 'tvs', source: 'default', assignment: null, priority: null, defaultFamily: 'AppleTV', location: { file: 'servers.yaml', line: 1, column: 1 } },
      { kind: 'none', policy: 'ignore', location: { file: 'servers.yaml', line: 1, column: 1 } },
      { kind: 'none', policy: 'remove', location: { file: 'servers.yaml', line: 1, column: 1 } },
    ];
    const lines = variants.map((desired) => {
      const one: ExplainReport = { ...report, serials: [{ ...report.serials[0]!, servers: [{ ...paris, desired }] }] };
      return renderExplainText(one).split('\n').find((l) => l.includes('should have:'));
    });
    expect(lines).toEqual([
      '    should have:  "ipads": match rule of Assignment "all-ipads", priority 10 (rules.yaml:9)',
      '    should have:  "macs": the server\'s defaultProfile, unassignedDevices: default (servers.yaml:1)',
      '    should have:  "tvs": the server\'s defaultProfiles entry for AppleTV, unassignedDevices: default (servers.yaml:1)',
      '    should have:  nothing: no Assignment lists or matches it; unassignedDevices: ignore leaves it alone (servers.yaml:1)',
      '    should have:  no profile: no Assignment lists or matches it; unassignedDevices: remove clears its profile (servers.yaml:1)',
    ]);
  });

  it('JSON is the report itself', () => {
    expect(JSON.parse(renderExplainJson(report))).toEqual(report);
  });
});
