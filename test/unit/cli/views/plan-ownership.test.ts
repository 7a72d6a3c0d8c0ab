import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { renderPlanJson } from '../../../../controller/cli/views/plan-json.js';
import { renderPlanMarkdown } from '../../../../controller/cli/views/plan-markdown.js';
import { renderPlanText } from '../../../../controller/cli/views/plan-text.js';
import { buildOwnershipIndex } from '../../../../controller/config/ownership.js';
import type { MdmServer, Organization } from '../../../../controller/config/types.js';
import { planOrganization, type OrganizationPlan } from '../../../../controller/ownership/plan.js';
import type { Plan } from '../../../../controller/reconcile/plan.js';
import { smallPlan } from '../../../helpers/plans.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const schema = JSON.parse(readFileSync(`${root}schemas/plan.schema.json`, 'utf8')) as { $defs: Record<string, { properties?: Record<string, unknown> }> };
const validate = new Ajv2020({ strict: true, allErrors: true }).compile(schema);
const loc = { file: 'servers.yaml', line: 12, column: 3 };

function organizationPlan(unclaimedDevices: Organization['unclaimedDevices'] = 'report'): OrganizationPlan {
  const org: Organization = {
    name: 'acme', scope: 'business', clientId: 'BUSINESSAPI.x', keyId: 'k', privateKey: { file: 'k.pem' }, apiUrl: 'https://api-business.apple.com/v1',
    tokenUrl: 'https://account.apple.com/auth/oauth2/token', maxChanges: 1000, driftPolicy: 'correct', unclaimedDevices, source: loc,
  };
  const serials = Array.from({ length: 1500 }, (_, i) => `C02${String(i).padStart(6, '0')}`);
  const server = (name: string, abmServerName: string, own: string[]): MdmServer =>
    ({ name, token: { file: 't' }, privateKey: { file: 'k' }, unassignedDevices: 'ignore', driftPolicy: 'correct', source: loc,
      ownership: { organization: 'acme', abmServerName, serials: own, orderNumbers: [], productFamilies: [], source: loc } }) as MdmServer;
  const servers = [server('paris', 'Paris MDM', []), server('lyon', 'Lyon MDM', [...serials, 'GHOST']), server('nice', 'Nice MDM', [])];
  return planOrganization({
    organization: org, index: buildOwnershipIndex({ servers, organizations: [org] }),
    observation: {
      servers: [{ id: 'A', serverName: 'Paris MDM' }, { id: 'B', serverName: 'Lyon MDM' }],
      // LOOSE1, claimed by no server, is on lyon when the organization unassigns unclaimed devices.
      assignedServer: new Map([...serials.map((s): [string, string] => [s, 'A']), ...(unclaimedDevices === 'unassign' ? [['LOOSE1', 'B'] as [string, string]] : [])]),
      devices: [...serials, 'LOOSE1'].map((serialNumber) => ({ serialNumber })),
    },
    openActivities: [{ organization: 'acme', activityId: 'act-9', type: 'ASSIGN_DEVICES', serverId: 'B', serverName: 'lyon', serials: ['X'], status: 'IN_PROGRESS', subStatus: 'PENDING', createdAt: new Date('2026-12-01T00:00:00Z'), updatedAt: new Date('2026-12-01T00:00:00Z'), completedAt: null, results: null }],
    closedActivities: [],
  });
}

function plan(unclaimedDevices: Organization['unclaimedDevices'] = 'report'): Plan {
  return { ...smallPlan(), organizations: [organizationPlan(unclaimedDevices)] };
}

describe('plan views: device ownership (issue 15)', () => {
  it('text: one line per move group, in progress, unclaimed, problems with their YAML location and the guardrail', () => {
    const text = renderPlanText(plan(), { color: false });
    expect(text).toContain('Organization acme: move 1500 devices paris → lyon (');
    expect(text).toContain('in progress: activity act-9 → lyon, 1 device (IN_PROGRESS/PENDING');
    expect(text).toContain('unclaimed: 1 device no server claims (LOOSE1)');
    expect(text).toContain('warning: servers.yaml:12:3: MdmServer lyon: 1 declared serial is not in organization acme (GHOST)');
    expect(text).toMatch(/error: servers\.yaml:12:3: MdmServer nice: organization acme has no MDM server named "Nice MDM"; create it in Apple Business Manager, or let depctl create it/);
    expect(text).toContain('Apply needs --allow-large: 1500 changes exceed maxChanges (1000).');
    expect(text).toContain('Plan: 1,500 devices to move between MDM servers in Apple Business/School Manager; ');
    expect(text).not.toContain('No changes. Apple is in line');
  });

  it('markdown: a table row per organization and the move lines', () => {
    const md = renderPlanMarkdown(plan());
    expect(md).toContain('| acme | 1501 | 1500 | 0 | 1 | 1 | 0 | over maxChanges |');
    expect(md).toContain('- Organization acme: move 1500 devices paris → lyon');
  });

  it('text and markdown: unclaimed devices to unassign from the declared server they are on', () => {
    const text = renderPlanText(plan('unassign'), { color: false });
    expect(text).toContain('Organization acme: unassign 1 device no server claims from lyon (LOOSE1)');
    expect(text).toContain('Apply needs --allow-large: 1501 changes exceed maxChanges (1000).');
    expect(renderPlanMarkdown(plan('unassign'))).toContain('- Organization acme: unassign 1 device no server claims from lyon');
  });

  it('json: schema-valid, parses back to the same plan, and the schema declares exactly the fields', () => {
    const p = plan('unassign');
    const parsed = JSON.parse(renderPlanJson(p)) as Plan;
    expect(validate(parsed), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    expect(parsed.organizations).toEqual(p.organizations);
    const o = p.organizations?.[0] as OrganizationPlan;
    expect(Object.keys(schema.$defs['OrganizationPlan']?.properties ?? {}).sort()).toEqual(Object.keys(o).sort());
    expect(Object.keys(schema.$defs['OwnershipMove']?.properties ?? {}).sort()).toEqual(Object.keys(o.moves[0] ?? {}).sort());
    // A plan of a config without Organizations has no organizations key at all.
    expect(Object.keys(JSON.parse(renderPlanJson(smallPlan())) as object)).not.toContain('organizations');
  });
});
