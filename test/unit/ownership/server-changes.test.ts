import { describe, expect, it } from 'vitest';
import { buildOwnershipIndex } from '../../../controller/config/ownership.js';
import type { MdmServer, Organization, ServerOwnership } from '../../../controller/config/types.js';
import type { ObservedServer } from '../../../controller/ownership/observe.js';
import { planOrganization, type OrganizationPlanInput } from '../../../controller/ownership/plan.js';
import type { ActivityRecord } from '../../../controller/ownership/ports.js';

// The server part of an ownership plan (API 2.1+), pure: create, rename by a known id, the disown flag, and
// the servers no MdmServer declares.

const loc = { file: 'servers.yaml', line: 10, column: 3 };
const ORG: Organization = {
  name: 'acme', scope: 'business', clientId: 'BUSINESSAPI.x', keyId: 'k', privateKey: { file: 'k.pem' },
  apiUrl: 'https://api-business.apple.com/v1', tokenUrl: 'https://account.apple.com/auth/oauth2/token', driftPolicy: 'correct', unclaimedDevices: 'ignore', source: loc,
};

function server(name: string, own: Partial<ServerOwnership> & { abmServerName: string }): MdmServer {
  return {
    name, token: { file: `${name}/token.p7m` }, privateKey: { file: `${name}/key.pem` }, unassignedDevices: 'ignore', driftPolicy: 'correct', source: loc,
    ownership: { organization: 'acme', serials: [], orderNumbers: [], productFamilies: [], source: loc, ...own },
  } as MdmServer;
}

function seen(serverName: string, serverId: string): ActivityRecord {
  const t = new Date('2026-12-01T10:00:00Z');
  return { organization: 'acme', activityId: `server-seen:${serverId}`, type: 'SERVER_SEEN', serverId, serverName, serials: [], status: 'COMPLETED', subStatus: null, createdAt: t, updatedAt: t, completedAt: t, results: [] };
}

function plan(declared: MdmServer[], servers: ObservedServer[], extra: Partial<OrganizationPlanInput> = {}): ReturnType<typeof planOrganization> {
  return planOrganization({
    organization: ORG, index: buildOwnershipIndex({ servers: declared, organizations: [ORG] }), openActivities: [], closedActivities: [],
    observation: { servers, assignedServer: new Map(), devices: [] }, ...extra,
  });
}

describe('ownership plan: MDM servers', () => {
  it('a missing server with its certificate found is a create (with where the token goes); without one, the missing-server error', () => {
    const decl = [server('nice', { abmServerName: 'Nice Macs', enableMdmDisownFlag: true })];
    const p = plan(decl, [], { certificates: new Map([['nice', { ok: true }]]) });
    expect(p.problems).toEqual([]);
    expect(p.serverChanges).toEqual([{ action: 'create', server: 'nice', abmServerName: 'Nice Macs', id: null, token: 'file nice/token.p7m', changes: [{ field: 'serverName', before: null, after: 'Nice Macs' }, { field: 'enableMdmDisownFlag', before: null, after: true }] }]);
    const none = plan(decl, []);
    expect(none.serverChanges).toEqual([]);
    expect(none.problems.map((x) => x.code)).toEqual(['abm-server-missing']);
    const bad = plan(decl, [], { certificates: new Map([['nice', { ok: false, reason: 'nice/key.cert.pem is not a PEM certificate' }]]) });
    expect(bad.problems[0]?.message).toContain('depctl cannot create it: nice/key.cert.pem is not a PEM certificate');
  });

  it('a new abmServerName renames by the id depctl knows; without a known id it would be created, never renamed by guess', () => {
    const decl = [server('paris', { abmServerName: 'Paris Staff' })];
    const obs = [{ id: 'ID-A', serverName: 'paris', serverType: 'MDM' }];
    const renamed = plan(decl, obs, { closedActivities: [seen('paris', 'ID-A')] });
    expect(renamed.serverChanges).toEqual([{ action: 'update', server: 'paris', abmServerName: 'Paris Staff', id: 'ID-A', changes: [{ field: 'serverName', before: 'paris', after: 'Paris Staff' }] }]);
    expect(renamed.undeclaredServers).toEqual([]);
    const unknown = plan(decl, obs);
    expect(unknown.serverChanges).toEqual([]);
    expect(unknown.problems.map((x) => x.code)).toEqual(['abm-server-missing']);
    expect(unknown.undeclaredServers).toEqual([{ id: 'ID-A', serverName: 'paris' }]);
    // A known id whose server Apple deleted is not renamed.
    expect(plan(decl, [{ ...obs[0], status: 'DELETED' } as ObservedServer], { closedActivities: [seen('paris', 'ID-A')] }).serverChanges).toEqual([]);
  });

  it('enableMdmDisownFlag is kept in line only when declared and when Apple reports it', () => {
    const decl = [server('paris', { abmServerName: 'paris', enableMdmDisownFlag: false })];
    expect(plan(decl, [{ id: 'ID-A', serverName: 'paris', enableMdmDisownFlag: true }]).serverChanges).toEqual([
      { action: 'update', server: 'paris', abmServerName: 'paris', id: 'ID-A', changes: [{ field: 'enableMdmDisownFlag', before: true, after: false }] },
    ]);
    expect(plan(decl, [{ id: 'ID-A', serverName: 'paris' }]).serverChanges).toEqual([]);
    expect(plan([server('paris', { abmServerName: 'paris' })], [{ id: 'ID-A', serverName: 'paris', enableMdmDisownFlag: true }]).serverChanges).toEqual([]);
  });

  it('servers no MdmServer declares are listed (MDM type only, not deleted ones), sorted', () => {
    const decl = [server('paris', { abmServerName: 'paris' })];
    const p = plan(decl, [
      { id: 'ID-A', serverName: 'paris' }, { id: 'ID-Z', serverName: 'Zeta' }, { id: 'ID-B', serverName: 'Beta', serverType: 'MDM' },
      { id: 'ID-C', serverName: 'Apple Configurator', serverType: 'APPLE_CONFIGURATOR' }, { id: 'ID-D', serverName: 'Gone', status: 'DELETED' },
    ]);
    expect(p.undeclaredServers).toEqual([{ id: 'ID-B', serverName: 'Beta' }, { id: 'ID-Z', serverName: 'Zeta' }]);
  });
});
