import { describe, expect, it } from 'vitest';
import { buildOwnershipIndex } from '../../../controller/config/ownership.js';
import type { MdmServer, Organization, ServerOwnership } from '../../../controller/config/types.js';
import type { OrganizationObservation } from '../../../controller/ownership/observe.js';
import { planOrganization } from '../../../controller/ownership/plan.js';
import type { ActivityRecord } from '../../../controller/ownership/ports.js';

const loc = (line: number) => ({ file: 'servers.yaml', line, column: 3 });

function org(extra: Partial<Organization> = {}): Organization {
  return {
    name: 'acme', scope: 'business', clientId: 'BUSINESSAPI.x', keyId: 'k', privateKey: { file: 'k.pem' },
    apiUrl: 'https://api-business.apple.com/v1', tokenUrl: 'https://account.apple.com/auth/oauth2/token',
    driftPolicy: 'correct', unclaimedDevices: 'ignore', source: loc(1), ...extra,
  };
}

function server(name: string, own: Partial<ServerOwnership> & { abmServerName: string }, line = 10): MdmServer {
  return {
    name, token: { file: `${name}.p7m` }, privateKey: { file: `${name}.pem` }, unassignedDevices: 'ignore', driftPolicy: 'correct', source: loc(line),
    ownership: { organization: 'acme', serials: [], orderNumbers: [], productFamilies: [], source: loc(line), ...own },
  } as MdmServer;
}

const SERVERS = [
  { id: 'ID-A', serverName: 'Paris MDM' },
  { id: 'ID-B', serverName: 'Lyon MDM' },
  { id: 'ID-C', serverName: 'Other' },
];

function observation(devices: { serial: string; on?: string; family?: string; order?: string }[]): OrganizationObservation {
  return {
    servers: SERVERS,
    assignedServer: new Map(devices.filter((d) => d.on).map((d) => [d.serial, d.on as string])),
    devices: devices.map((d) => ({ serialNumber: d.serial, ...(d.family ? { productFamily: d.family } : {}), ...(d.order ? { orderNumber: d.order } : {}) })),
  };
}

function activity(id: string, serverName: string, serials: string[], closed?: { results: { serial: string; status: string }[] }): ActivityRecord {
  const t = new Date('2026-12-01T10:00:00Z');
  return {
    organization: 'acme', activityId: id, type: 'ASSIGN_DEVICES', serverId: serverName === 'lyon' ? 'ID-B' : 'ID-A', serverName, serials,
    status: closed ? 'COMPLETED' : 'IN_PROGRESS', subStatus: closed ? 'COMPLETED_WITH_SUCCESS' : 'PENDING', createdAt: t, updatedAt: t,
    completedAt: closed ? t : null, results: closed ? closed.results : null,
  };
}

const servers = [
  server('paris', { abmServerName: 'Paris MDM', serials: ['P1'], productFamilies: ['Mac'] }, 10),
  server('lyon', { abmServerName: 'Lyon MDM', serials: ['L1', 'L2', 'L3', 'GHOST1'], orderNumbers: ['ORD-7'] }, 20),
];

describe('planOrganization', () => {
  it('groups moves by (from, to), lists first assignments, leaves devices already in place and respects precedence', () => {
    const o = org();
    const index = buildOwnershipIndex({ servers, organizations: [o] });
    const plan = planOrganization({
      organization: o, index, openActivities: [], closedActivities: [],
      observation: observation([
        { serial: 'L1', on: 'ID-A' }, { serial: 'L2', on: 'ID-A' }, { serial: 'L3', on: 'ID-C' },
        { serial: 'P1', on: 'ID-A' }, // already in place
        { serial: 'M1', family: 'Mac' }, // first assignment by family
        { serial: 'O1', on: 'ID-A', order: 'ord-7', family: 'Mac' }, // order number beats family
        { serial: 'X1', on: 'ID-C', family: 'iPad' }, // unclaimed
      ]),
    });
    expect(plan.moves.map((m) => [m.from?.abmServerName, m.to.server, m.serials])).toEqual([
      ['Other', 'lyon', ['L3']],
      ['Paris MDM', 'lyon', ['L1', 'L2', 'O1']],
    ]);
    expect(plan.assigns.map((m) => [m.from, m.to.id, m.serials])).toEqual([[null, 'ID-A', ['M1']]]);
    expect(plan.changeCount).toBe(5);
    expect(plan.unclaimed).toBeNull();
    expect(plan.exceedsMaxChanges).toBe(false);
    // GHOST1 is declared but Apple does not list it: a warning pointing at the server's YAML.
    expect(plan.problems).toEqual([
      expect.objectContaining({ severity: 'warning', code: 'serial-not-in-organization', source: loc(20), message: expect.stringContaining('GHOST1') as string }),
    ]);
  });

  it('reports unclaimed devices only when asked, and the guardrail when changes exceed maxChanges', () => {
    const o = org({ unclaimedDevices: 'report', maxChanges: 2 });
    const index = buildOwnershipIndex({ servers, organizations: [o] });
    const plan = planOrganization({
      organization: o, index, openActivities: [], closedActivities: [],
      observation: observation([{ serial: 'L1', on: 'ID-A' }, { serial: 'L2' }, { serial: 'L3', on: 'ID-A' }, { serial: 'U1' }, { serial: 'U2', on: 'ID-C' }]),
    });
    expect(plan.unclaimed).toEqual({ count: 2, sample: ['U1', 'U2'] });
    expect(plan.changeCount).toBe(3);
    expect(plan.exceedsMaxChanges).toBe(true);
    expect(plan.maxChanges).toBe(2);
  });

  it('a declared server that Apple does not have is an error and its devices are not planned', () => {
    const o = org({ scope: 'school' });
    const index = buildOwnershipIndex({ servers: [...servers, server('nice', { abmServerName: 'Nice MDM', serials: ['N1'] }, 30)], organizations: [o] });
    const plan = planOrganization({ organization: o, index, openActivities: [], closedActivities: [], observation: observation([{ serial: 'N1', on: 'ID-A' }, { serial: 'L1', on: 'ID-A' }]) });
    expect(plan.moves.flatMap((m) => m.serials)).toEqual(['L1']);
    const missing = plan.problems.find((p) => p.code === 'abm-server-missing');
    expect(missing?.severity).toBe('error');
    expect(missing?.source).toEqual(loc(30));
    expect(missing?.message).toContain('create it in Apple School Manager, or let depctl create it from the certificate of `depctl keys generate` next to its privateKey');
  });

  it('shows devices of an open activity as in progress instead of planning them again', () => {
    const o = org();
    const index = buildOwnershipIndex({ servers, organizations: [o] });
    const plan = planOrganization({
      organization: o, index, closedActivities: [],
      openActivities: [activity('act-1', 'lyon', ['L1', 'L2'])],
      observation: observation([{ serial: 'L1', on: 'ID-A' }, { serial: 'L2', on: 'ID-A' }, { serial: 'L3', on: 'ID-A' }]),
    });
    expect(plan.moves.flatMap((m) => m.serials)).toEqual(['L3']);
    expect(plan.inProgress).toEqual([{ activityId: 'act-1', server: 'lyon', devices: 2, status: 'IN_PROGRESS', subStatus: 'PENDING', createdAt: '2026-12-01T10:00:00.000Z' }]);
  });

  it('drift: a device depctl moved that is elsewhere now is moved back (correct) or only reported (report)', () => {
    const moved = activity('act-0', 'lyon', ['L1', 'L2'], { results: [{ serial: 'L1', status: 'SUCCESS' }, { serial: 'L2', status: 'FAILED' }] });
    const devices = observation([{ serial: 'L1', on: 'ID-C' }, { serial: 'L2', on: 'ID-A' }]);
    for (const driftPolicy of ['correct', 'report'] as const) {
      const o = org({ driftPolicy });
      const plan = planOrganization({ organization: o, index: buildOwnershipIndex({ servers, organizations: [o] }), openActivities: [], closedActivities: [moved], observation: devices });
      // L2 never reached lyon (FAILED): it is a plain planned move under either policy, not drift.
      expect(plan.drift).toEqual([{ serial: 'L1', expected: 'lyon', actual: 'Other' }]);
      expect(plan.moves.flatMap((m) => m.serials).sort()).toEqual(driftPolicy === 'correct' ? ['L1', 'L2'] : ['L2']);
    }
  });
});
