import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { PLAN_FORMATS } from '../../../../controller/cli/views/plan-common.js';
import { PLAN_SCHEMA_ID, renderPlanJson } from '../../../../controller/cli/views/plan-json.js';
import type { Plan } from '../../../../controller/reconcile/plan.js';
import { hostilePlan, inLinePlan, largePlan, messyPlan, smallPlan } from '../../../helpers/plans.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const schema = JSON.parse(readFileSync(`${root}schemas/plan.schema.json`, 'utf8')) as Record<string, unknown> & {
  $defs: Record<string, { description?: string; properties?: Record<string, unknown> }>;
  properties: Record<string, unknown>;
};
const validate = new Ajv2020({ strict: true, allErrors: true }).compile(schema);

const fixtures: Record<string, () => Plan> = { inLinePlan, smallPlan, messyPlan, hostilePlan, largePlan };

/** Reverses the key order of every object, as a planner building objects differently might. */
function shuffleKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shuffleKeys);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, shuffleKeys(x)]));
}

describe('renderPlanJson', () => {
  it('exports the formats the plan command accepts', () => {
    expect(PLAN_FORMATS).toEqual(['text', 'json', 'markdown']);
  });

  it('has a schema that compiles in ajv strict mode, with the documented $id', () => {
    expect(() => new Ajv2020({ strict: true }).compile(schema)).not.toThrow();
    expect(schema.$id).toBe('plan.schema.json');
    expect(PLAN_SCHEMA_ID).toBe('plan.schema.json');
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });

  it('documents every definition and every field', () => {
    for (const [name, def] of Object.entries(schema.$defs)) {
      expect(def.description, name).toMatch(/\S/);
      for (const [field, sub] of Object.entries(def.properties ?? {})) {
        const s = sub as { description?: string; $ref?: string };
        expect(s.description ?? s.$ref, `${name}.${field}`).toBeTruthy();
      }
    }
    for (const [field, sub] of Object.entries(schema.properties)) {
      const s = sub as { description?: string; $ref?: string };
      expect(s.description ?? s.$ref, field).toBeTruthy();
    }
  });

  for (const [name, make] of Object.entries(fixtures)) {
    it(`renders ${name} as schema-valid JSON that parses back to the same plan`, () => {
      const plan = make();
      const json = renderPlanJson(plan);
      const parsed: unknown = JSON.parse(json);
      expect(validate(parsed), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
      expect(parsed).toEqual(plan);
    });
  }

  it('writes current, desired and since for device drift only, in schema order', () => {
    const json = JSON.parse(renderPlanJson(messyPlan())) as { servers: { drift: Record<string, unknown>[] }[] };
    const paris = json.servers[0]?.drift ?? [];
    expect(Object.keys(paris[0] ?? {})).toEqual(['kind', 'message', 'serials', 'corrected', 'current', 'desired', 'since']);
    expect(paris[0]?.current).toEqual({ uuid: 'D0960501F8971BE812F2E5494426E08C', profile: null, name: 'Portal Default' });
    expect(paris[0]?.since).toBe('2026-11-24T16:05:00Z');
    expect(Object.keys(paris[2] ?? {})).toEqual(['kind', 'message', 'serials', 'corrected']);
    expect(json.servers[2]?.drift[0]).toMatchObject({ current: { uuid: null, profile: null, name: null }, desired: 'staff-macs', since: null });
  });

  it('writes what a changed define changes, key by key and whole, and a new define\'s content', () => {
    const json = renderPlanJson(messyPlan());
    const at = json.indexOf('          "changesFrom"');
    expect(json.slice(at, json.indexOf('      "assign"'))).toBe(
      [
        '          "changesFrom": "C6D2FAFB875CA3A4AC0EB430C643A2A8",',
        '          "changes": [',
        '            {',
        '              "key": "is_mdm_removable",',
        '              "before": false,',
        '              "after": true',
        '            },',
        '            {',
        '              "key": "skip_setup_items",',
        '              "before": [',
        '                "AppleID",',
        '                "Location"',
        '              ],',
        '              "after": [',
        '                "AppleID",',
        '                "Privacy",',
        '                "Siri"',
        '              ],',
        '              "added": [',
        '                "Privacy",',
        '                "Siri"',
        '              ],',
        '              "removed": [',
        '                "Location"',
        '              ]',
        '            },',
        '            {',
        '              "key": "support_phone_number",',
        '              "before": "+33 1 23 45 67 89",',
        '              "after": null',
        '            },',
        '            {',
        '              "key": "url",',
        '              "before": "https://mdm.example.com/enroll",',
        '              "after": "https://mdm.example.com/enroll/staff/macs?organisation=lycee-voltaire-paris-3e&campus=nord"',
        '            }',
        '          ]',
        '        }',
        '      ],',
        '',
      ].join('\n'),
    );
    const small = JSON.parse(renderPlanJson(smallPlan())) as { servers: { defines: Record<string, unknown>[] }[] };
    expect(small.servers[0]?.defines[0]).toEqual({
      profile: 'classroom-ipads',
      contentHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      reason: 'new',
      previousUuids: [],
      devices: 12,
      content: {
        department: 'Classrooms',
        is_mdm_removable: false,
        is_supervised: true,
        profile_name: 'Classroom iPads',
        skip_setup_items: ['AppleID', 'Siri'],
        url: 'https://mdm.example.com/enroll/classrooms/ipads?organisation=lycee-voltaire-paris-3e',
      },
    });
    expect(Object.keys(small.servers[0]?.defines[0] ?? {})).toEqual(['profile', 'contentHash', 'reason', 'previousUuids', 'devices', 'content']);
  });

  it('still reads a define without changes or content, as earlier versions wrote it', () => {
    const p = JSON.parse(renderPlanJson(messyPlan())) as Plan;
    const d = p.servers[0]?.defines[0];
    if (!d) throw new Error('fixture changed');
    delete d.changes;
    delete d.changesFrom;
    expect(validate(p)).toBe(true);
    (d as { changes?: unknown }).changes = [{ key: 'url', before: 'a' }];
    expect(validate(p)).toBe(false);
    (d as { changes?: unknown }).changes = [{ key: 'Not A Key', before: 'a', after: 'b' }];
    expect(validate(p)).toBe(false);
  });

  it('indents with two spaces and ends with a newline', () => {
    const json = renderPlanJson(smallPlan());
    expect(json.split('\n').slice(0, 3)).toEqual(['{', '  "version": 1,', `  "createdAt": "${smallPlan().createdAt}",`]);
    expect(json.endsWith('}\n')).toBe(true);
  });

  it('is byte-stable whatever key order the planner used', () => {
    const plan = messyPlan();
    expect(renderPlanJson(shuffleKeys(plan) as Plan)).toBe(renderPlanJson(plan));
  });

  it('drops properties the Plan type does not declare, so nothing stray reaches a plan file', () => {
    const plan = smallPlan();
    const tainted = { ...plan, servers: [...plan.servers], accessToken: 'AT_O123O456' } as Plan;
    const first = tainted.servers[0];
    if (!first) throw new Error('fixture changed');
    tainted.servers[0] = { ...first, consumerSecret: 'CS_abcdef0123' } as typeof first;
    const json = renderPlanJson(tainted);
    expect(json).not.toContain('AT_O123O456');
    expect(json).not.toContain('CS_abcdef0123');
    expect(JSON.parse(json)).toEqual(plan);
  });

  it('rejects plans that break the contract', () => {
    const bad = (mutate: (p: Plan & Record<string, unknown>) => void): boolean => {
      const p = JSON.parse(renderPlanJson(messyPlan())) as Plan & Record<string, unknown>;
      mutate(p);
      return validate(p);
    };
    expect(bad(() => undefined)).toBe(true);
    expect(bad((p) => (p.extra = 1))).toBe(false);
    expect(bad((p) => ((p as { version: number }).version = 2))).toBe(false);
    expect(bad((p) => ((p.servers[0]?.assign[0] as { reason: string }).reason = 'because'))).toBe(false);
    expect(bad((p) => ((p.servers[0]?.drift[0] as { kind: string }).kind = 'other'))).toBe(false);
    expect(bad((p) => ((p.servers[0]?.drift[0] as { since: string }).since = 'last week'))).toBe(false);
    expect(bad((p) => ((p.servers[0]?.drift[0] as { current: { uuid: string } }).current.uuid = ''))).toBe(false);
    expect(bad((p) => delete (p.servers[0]?.drift[0] as { current: { name?: string } }).current.name)).toBe(false);
    expect(bad((p) => ((p.servers[0]?.drift[0] as { desired: string }).desired = ''))).toBe(false);
    expect(bad((p) => ((p.servers[0]?.deferred[0] as { until: string }).until = 'in an hour'))).toBe(false);
    expect(bad((p) => ((p.servers[0] as { devices: number }).devices = -1))).toBe(false);
    // An errored server shows no changes.
    expect(bad((p) => p.servers[1]?.assign.push(p.servers[0]?.assign[0] as never))).toBe(false);
    expect(bad((p) => ((p.servers[1] as { changeCount: number }).changeCount = 3))).toBe(false);
  });

  it('declares exactly the fields the plan type has', () => {
    const plan = messyPlan();
    const keysOf = (def: string): string[] => Object.keys(schema.$defs[def]?.properties ?? {}).sort();
    const server = plan.servers[0];
    if (!server) throw new Error('fixture changed');
    // skippedServers is there only for a `--server` plan (test/integration/server-selection.test.ts).
    // organizations only when the configuration declares an Organization (test/unit/cli/views/plan-ownership.test.ts).
    expect(Object.keys(schema.properties).sort()).toEqual([...Object.keys(plan), 'skippedServers', 'organizations'].sort());
    expect(keysOf('ServerPlan')).toEqual(Object.keys(server).sort());
    expect(keysOf('PlanSummary')).toEqual(Object.keys(plan.summary).sort());
    expect(keysOf('AssignGroup')).toEqual(Object.keys(server.assign[0] ?? {}).sort());
    expect(keysOf('RemoveGroup')).toEqual(Object.keys(server.remove[0] ?? {}).sort());
    // A changed define carries changesFrom and changes, a new one its content: together every field.
    const defineKeys = new Set([...Object.keys(server.defines[0] ?? {}), ...Object.keys(smallPlan().servers[0]?.defines[0] ?? {})]);
    expect(keysOf('ProfileDefine')).toEqual([...defineKeys].sort());
    expect(keysOf('ProfileChange')).toEqual(Object.keys(server.defines[0]?.changes?.[1] ?? {}).sort());
    expect(keysOf('DriftItem')).toEqual(Object.keys(server.drift[0] ?? {}).sort());
    expect(keysOf('DriftProfile')).toEqual(Object.keys(server.drift[0]?.current ?? {}).sort());
    expect(keysOf('DeferredGroup')).toEqual(Object.keys(server.deferred[0] ?? {}).sort());
    expect(keysOf('Conflict')).toEqual(Object.keys(server.conflicts[0] ?? {}).sort());
  });
});
