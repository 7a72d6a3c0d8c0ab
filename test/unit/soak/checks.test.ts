/** The soak's checks catch what they are for (test/soak/checks.ts). */
import { describe, expect, it } from 'vitest';
import { checkAudit, checkContent, checkNotifications, checkWanted, type Delivery, type ProfileFacts } from '../../soak/checks.js';
import type { SimWrite } from '../../../controller/sim/index.js';
import type { AuditRecord, RunRecord } from '../../../controller/store/index.js';

const U1 = 'UUID1';
const U2 = 'UUID2';
const PROFILES: Record<string, ProfileFacts> = {
  [U1]: { key: 'iPads|A', depctlName: 'ipads', content: '{"department":"A","profile_name":"iPads"}' },
  [U2]: { key: 'iPads|B', depctlName: 'ipads', content: '{"department":"B","profile_name":"iPads"}' },
};
const profileOf = (uuid: string): ProfileFacts | undefined => PROFILES[uuid];
const T = new Date('2026-12-01T10:00:00Z');
let seq = 0;
function row(action: string, serial: string | null, after: string | null, outcome: AuditRecord['outcome'], appleStatus: string | null = null): AuditRecord {
  return { seq: ++seq, runId: 1, server: 'main', serial, action, before: null, after, outcome, appleStatus, at: T };
}
const define = (uuid: string, devices: Record<string, string>): SimWrite => ({ seq: 1, at: 0, op: 'define', profileUuid: uuid, devices });
const assign = (uuid: string, devices: Record<string, string>): SimWrite => ({ seq: 2, at: 0, op: 'assign', profileUuid: uuid, devices });

/** The audit apply writes for a define of U1 with A and an assign of B (THROTTLED). */
function consistentAudit(): AuditRecord[] {
  return [
    row('assign', 'A', '(new ipads)', 'pending'),
    row('define', null, U1, 'success'),
    row('assign', 'A', U1, 'success', 'SUCCESS'),
    row('assign', 'B', U1, 'pending'),
    row('assign', 'B', U1, 'throttled', 'THROTTLED'),
  ];
}
const writes = [define(U1, { A: 'SUCCESS' }), assign(U1, { B: 'THROTTLED' })];

describe('checkAudit', () => {
  it('agrees with an audit log written as apply writes it', () => {
    expect(checkAudit(writes, consistentAudit(), profileOf)).toEqual({ violations: [], answersLost: 0 });
  });

  it('finds a write Apple carried out with no intent audited before it', () => {
    const audit = consistentAudit().filter((a) => !(a.serial === 'B' && a.outcome === 'pending'));
    expect(checkAudit(writes, audit, profileOf).violations).toEqual([expect.stringMatching(/^1 serial write\(s\) Apple carried out with no audited intent.*assign\|B\|UUID1/)]);
  });

  it('finds an audited outcome Apple never gave', () => {
    const audit = consistentAudit().map((a) => (a.serial === 'B' && a.outcome === 'throttled' ? { ...a, outcome: 'success' as const, appleStatus: 'SUCCESS' } : a));
    expect(checkAudit(writes, audit, profileOf).violations).toEqual([expect.stringMatching(/^1 audited outcome\(s\) Apple never gave.*assign\|B\|UUID1\|SUCCESS/)]);
  });

  it('finds a define with no define row, and accepts a recover-define row instead', () => {
    const noDefine = consistentAudit().filter((a) => a.action !== 'define');
    expect(checkAudit(writes, noDefine, profileOf).violations).toEqual([expect.stringContaining('Apple defined iPads|A as UUID1')]);
    expect(checkAudit(writes, [...noDefine, row('recover-define', null, U1, 'success')], profileOf).violations).toEqual([]);
  });

  it('counts answers a kill lost (intent audited, outcome not) without calling them violations', () => {
    const audit = consistentAudit().filter((a) => !(a.serial === 'B' && a.outcome === 'throttled'));
    expect(checkAudit(writes, audit, profileOf)).toEqual({ violations: [], answersLost: 1 });
  });
});

describe('checkContent and checkWanted', () => {
  it('finds one content defined twice', () => {
    const twice: Record<string, ProfileFacts> = { ...PROFILES, UUID3: { ...PROFILES[U1]! } };
    const r = checkContent([define(U1, {}), define('UUID3', {}), define(U2, {})], (u) => twice[u]);
    expect(r.contents).toBe(2);
    expect(r.violations).toEqual([expect.stringContaining('defined 2 times (UUID1, UUID3)')]);
    expect(checkContent([define(U1, {}), define(U2, {})], profileOf)).toEqual({ violations: [], contents: 2 });
  });

  it('finds a device assigned a profile no revision wanted; a THROTTLED answer assigned nothing', () => {
    const wanted = (serial: string, key: string): boolean => key === (serial === 'A' ? 'iPads|A' : 'iPads|B');
    expect(checkWanted([define(U1, { A: 'SUCCESS' }), assign(U1, { B: 'THROTTLED' })], profileOf, wanted).violations).toEqual([]);
    expect(checkWanted([assign(U1, { B: 'SUCCESS' })], profileOf, wanted).violations).toEqual(['1 assignment(s) no revision wanted, e.g. B got iPads|A']);
  });
});

describe('checkNotifications', () => {
  const partial = (id: string, rev = 'abc'): Delivery => ({ id, kind: 'run-partial', server: 'main', details: { revision: rev } });
  const run = (commit: string, throttled: number): RunRecord => ({ id: 1, startedAt: T, finishedAt: T, commit, planHash: null, trigger: 'git', result: 'partial', summary: { servers: [{ server: 'main', failed: 0, throttled, notAccessible: 0, error: null }] } });

  it('accepts one notification per partial run, and counts the same id again apart', () => {
    expect(checkNotifications([partial('depctl-1'), partial('depctl-1')], [run('abc', 3)], 0)).toEqual({ violations: [], delivered: 1, sameIdAgain: 1 });
  });

  it('finds one key delivered as two notifications, a partial run never notified, and unsent rows', () => {
    expect(checkNotifications([partial('depctl-1'), partial('depctl-2')], [], 0).violations).toEqual(['notification run-partial:main:abc delivered as 2 different notifications (depctl-1, depctl-2)']);
    expect(checkNotifications([], [run('abc', 3)], 0).violations).toEqual([expect.stringContaining('was partial on main and no run-partial notification was delivered')]);
    expect(checkNotifications([], [], 2).violations).toEqual(['2 notification(s) still unsent']);
  });
});
