import { describe, expect, it } from 'vitest';
import { withOrganizations, type Plan } from '../../../controller/reconcile/plan.js';
import type { OrganizationPlan, OwnershipMove } from '../../../controller/ownership/plan.js';

// planHash covers the device moves of every Organization (issue 15), so `apply --plan` compares one hash.

function plan(): Plan {
  const summary = { defines: 0, assign: 0, remove: 0, drift: 0, deferred: 0, conflicts: 0, errors: 0 };
  return { version: 1, createdAt: '2026-12-01T10:00:00.000Z', commit: 'abc1234', configHash: 'c', planHash: 'dep-hash', servers: [], summary };
}

function move(serials: string[], to = 'id-lyon', from: string | null = 'id-paris'): OwnershipMove {
  return { from: from === null ? null : { id: from, abmServerName: 'paris', server: 'paris' }, to: { server: 'lyon', abmServerName: 'lyon', id: to }, serials };
}

function org(moves: OwnershipMove[], over: Partial<OrganizationPlan> = {}): OrganizationPlan {
  return {
    organization: 'acme', scope: 'business', moves: moves.filter((m) => m.from !== null), assigns: moves.filter((m) => m.from === null),
    changeCount: moves.reduce((n, m) => n + m.serials.length, 0), maxChanges: null, exceedsMaxChanges: false,
    inProgress: [], unclaimed: null, drift: [], driftPolicy: 'correct', problems: [], error: null, devices: 3, ...over,
  };
}

describe('withOrganizations', () => {
  it('the same moves give the same hash; other serials, another target, a first assignment or an error give another', () => {
    const base = withOrganizations(plan(), [org([move(['A', 'B'])])]).planHash;
    expect(withOrganizations(plan(), [org([move(['A', 'B'])])]).planHash).toBe(base);
    const others = [
      withOrganizations(plan(), [org([move(['A'])])]),
      withOrganizations(plan(), [org([move(['A', 'B'], 'id-nice')])]),
      withOrganizations(plan(), [org([move(['A', 'B'], 'id-lyon', null)])]),
      withOrganizations(plan(), [org([], { error: 'could not read organization acme' })]),
      withOrganizations(plan(), [org([])]),
    ].map((p) => p.planHash);
    for (const h of others) expect(h).not.toBe(base);
    expect(new Set(others).size).toBe(others.length);
  });

  it('the DEP changes stay in the hash, and a plan without Organizations keeps its DEP-only hash', () => {
    const a = withOrganizations(plan(), [org([move(['A'])])]).planHash;
    const b = withOrganizations({ ...plan(), planHash: 'other-dep-hash' }, [org([move(['A'])])]).planHash;
    expect(a).not.toBe(b);
    expect(plan().planHash).toBe('dep-hash');
  });
});
