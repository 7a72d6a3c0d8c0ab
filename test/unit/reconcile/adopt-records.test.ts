import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../controller/store/index.js';
import { configClaims, recordAdoption, selectAdoption, storeClash, type SelectAdoptionInput } from '../../../controller/reconcile/adopt-records.js';
import { profileKeysFromSchema, type AdoptedProfile, type ForeignProfile } from '../../../controller/reconcile/adopt.js';
import type { KnownProfile } from '../../../controller/reconcile/diff.js';
import { profileContentHash } from '../../../controller/reconcile/profile-content.js';
import { readSchemaFiles } from '../../../controller/config/schemas.js';
import { skipKeyCatalogue } from '../../../controller/config/skip-keys.js';
import type { LoadResult } from '../../../controller/config/load.js';
import type { Problem } from '../../../controller/config/problems.js';
import type { EnrollmentProfile } from '../../../controller/config/types.js';
import { assignment, depConfig, enrollmentProfile, mdmServer } from '../../helpers/reconcile-fakes.js';

const URL_ = 'https://mdm.example.com/enroll';
const U1 = '11111111111111111111111111111111';
const U2 = '22222222222222222222222222222222';
const U9 = '99999999999999999999999999999999';

describe('configClaims', () => {
  it('claims every profile and assignment name and every listed serial, whatever the server', () => {
    const config = depConfig({
      servers: [mdmServer('paris'), mdmServer('lyon')],
      profiles: [enrollmentProfile('ipads', ['paris']), enrollmentProfile('macs', ['lyon'])],
      assignments: [assignment('lab', 'ipads', ['paris'], { serials: ['IPAD0001', 'IPAD0002'] }), assignment('spare', 'macs', ['lyon'], { serials: ['IPAD0002', 'MAC00001'] })],
    });
    expect(configClaims(config)).toEqual({
      takenProfileNames: new Set(['ipads', 'macs']),
      takenAssignmentNames: new Set(['lab', 'spare']),
      // A serial two assignments list is claimed by the last one.
      listedSerials: new Map([
        ['IPAD0001', 'lab'],
        ['IPAD0002', 'spare'],
        ['MAC00001', 'spare'],
      ]),
    });
  });
});

describe('storeClash', () => {
  const body = { profile_name: 'Classroom iPads', url: URL_ };
  // The store keys records by the content hash; building the records needs it.
  const HASH = profileContentHash(body);
  const profile = { uuid: U1, name: 'classroom-ipads', body };
  const rec = (over: Partial<KnownProfile>): KnownProfile => ({ name: 'classroom-ipads', contentHash: HASH, state: 'defined', uuid: U1, ...over });

  it('allows a profile the store does not know, or knows exactly (a re-import)', () => {
    expect(storeClash(profile, [])).toBeUndefined();
    expect(storeClash(profile, [rec({})])).toBeUndefined();
  });

  it('allows a name whose earlier content has another UUID (plan replaces that one)', () => {
    expect(storeClash(profile, [rec({ contentHash: 'earlier-content', uuid: U2 })])).toBeUndefined();
  });

  it('forbids a UUID the store records under another name or content', () => {
    expect(storeClash(profile, [rec({ name: 'ipads' })])).toBe('the state store already records this UUID as profile "ipads" with other content or another UUID');
    expect(storeClash(profile, [rec({ contentHash: 'other-content' })])).toBe(
      'the state store already records this UUID as profile "classroom-ipads" with other content or another UUID',
    );
  });

  it('forbids a name and content the store records under another UUID or a pending define', () => {
    expect(storeClash(profile, [rec({ uuid: U9 })])).toBe(`the state store already records UUID ${U9} as profile "classroom-ipads" with other content or another UUID`);
    expect(storeClash(profile, [rec({ state: 'defining', uuid: null })])).toBe('the state store already records UUID (pending) as profile "classroom-ipads" with other content or another UUID');
  });
});

describe('selectAdoption', () => {
  const schemas = readSchemaFiles();
  const catalogue = skipKeyCatalogue(schemas);
  const base: SelectAdoptionInput['base'] = {
    server: 'paris',
    takenProfileNames: new Set(),
    takenAssignmentNames: new Set(),
    listedSerials: new Map(),
    csvThreshold: 500,
    profileKeys: profileKeysFromSchema(schemas['enrollment-profile.schema.json'] ?? {}),
    skipKeys: new Set([...catalogue.current, ...catalogue.deprecated]),
    importedAt: new Date('2026-03-01T10:00:00Z'),
  };
  const foreign = (uuid: string, name: string, serials: string[], extra: Record<string, unknown> = {}): ForeignProfile => ({
    uuid,
    profile: { profile_uuid: uuid, profile_name: name, url: URL_, ...extra },
    serials,
  });
  const problem = (file: string, message: string, severity: Problem['severity'] = 'error'): Problem => ({ file, line: 2, column: 3, severity, code: 'schema', message });
  const loadResult = (problems: Problem[]): LoadResult => {
    const errorCount = problems.filter((p) => p.severity === 'error').length;
    return {
      config: errorCount > 0 ? undefined : depConfig({ servers: [] }),
      problems,
      errorCount,
      warningCount: problems.length - errorCount,
      stats: { files: 0, documents: { MdmServer: 0, EnrollmentProfile: 0, Assignment: 0, Enrollment: 0, Credential: 0, Organization: 0 }, serials: 0 },
    };
  };

  /** Each validate call's file names; `answer` decides the problems from them. */
  function validator(answer: (files: string[]) => Problem[]): { calls: string[][]; validate: SelectAdoptionInput['validate'] } {
    const calls: string[][] = [];
    return {
      calls,
      validate: async (files) => {
        const names = [...files.keys()].sort();
        calls.push(names);
        return loadResult(answer(names));
      },
    };
  }

  it('with nothing to adopt, validates nothing', async () => {
    const v = validator(() => []);
    const out = await selectAdoption({ base, foreign: [], known: [], outRel: 'imported/paris', validate: v.validate });
    expect(out.kind).toBe('nothing');
    expect(v.calls).toEqual([]);
  });

  it('drops a profile the store forbids and rebuilds, so another profile gets the freed name', async () => {
    const v = validator(() => []);
    const known: KnownProfile[] = [{ name: 'classroom-ipads', contentHash: profileContentHash({ profile_name: 'Classroom iPads', url: URL_ }), state: 'defined', uuid: U9 }];
    const out = await selectAdoption({
      base,
      foreign: [foreign(U1, 'Classroom iPads', ['IPAD0001', 'IPAD0002']), foreign(U2, 'Classroom iPads', ['IPAD0003'], { department: 'Annex' })],
      known,
      outRel: 'imported/paris',
      validate: v.validate,
    });
    if (out.kind !== 'valid') throw new Error(`expected valid, got ${out.kind}`);
    expect(out.adoption.profiles.map((p) => [p.uuid, p.name, p.wantedName])).toEqual([[U2, 'classroom-ipads', null]]);
    expect(out.dropped).toEqual(new Map([[U1, `the state store already records UUID ${U9} as profile "classroom-ipads" with other content or another UUID`]]));
    // The store check comes before validation: only the final documents are validated.
    expect(v.calls).toEqual([['classroom-ipads.yaml']]);
  });

  it('drops a profile whose own file does not validate, keeps the warnings of the rest', async () => {
    const warning = problem('imported/paris/classroom-ipads.yaml', 'deprecated', 'warning');
    const v = validator((files) => (files.includes('staff-macs.yaml') ? [problem('imported/paris/staff-macs.yaml', 'bad url'), warning] : [warning]));
    const out = await selectAdoption({
      base,
      foreign: [foreign(U1, 'Staff Macs', ['MAC00001']), foreign(U2, 'Classroom iPads', ['IPAD0001'])],
      known: [],
      outRel: 'imported/paris',
      validate: v.validate,
    });
    if (out.kind !== 'valid') throw new Error(`expected valid, got ${out.kind}`);
    expect(out.adoption.profiles.map((p) => p.name)).toEqual(['classroom-ipads']);
    expect(out.dropped).toEqual(new Map([[U1, 'does not validate: bad url']]));
    expect(out.loaded.problems).toEqual([warning]);
    expect(v.calls).toEqual([['classroom-ipads.yaml', 'staff-macs.yaml'], ['classroom-ipads.yaml']]);
  });

  it('an error in a CSV file drops the profile that owns it', async () => {
    const v = validator((files) => (files.includes('labs.csv') ? [problem('imported/paris/labs.csv', 'duplicate serial')] : []));
    const out = await selectAdoption({ base: { ...base, csvThreshold: 1 }, foreign: [foreign(U1, 'Labs', ['MAC00001', 'MAC00002'])], known: [], outRel: 'imported/paris', validate: v.validate });
    expect(out.kind).toBe('nothing');
    expect(out.dropped).toEqual(new Map([[U1, 'does not validate: duplicate serial']]));
    expect(v.calls).toEqual([['labs.csv', 'labs.yaml']]);
  });

  it('an error outside the imported files makes the import invalid, dropping nothing', async () => {
    const elsewhere = problem('assignments.yaml', 'serial listed twice');
    const v = validator(() => [elsewhere]);
    const out = await selectAdoption({ base, foreign: [foreign(U1, 'Staff Macs', ['MAC00001'])], known: [], outRel: 'imported/paris', validate: v.validate });
    if (out.kind !== 'invalid') throw new Error(`expected invalid, got ${out.kind}`);
    expect(out.errors).toEqual([elsewhere]);
    expect(out.dropped).toEqual(new Map());
    // A file outside the output directory that merely starts with its name is not the import's.
    const v2 = validator(() => [problem('imported/paris-old/staff-macs.yaml', 'bad')]);
    const out2 = await selectAdoption({ base, foreign: [foreign(U1, 'Staff Macs', ['MAC00001'])], known: [], outRel: 'imported/paris', validate: v2.validate });
    expect(out2.kind).toBe('invalid');
  });

  it('gives up after five rounds of dropping', async () => {
    // Each round, only the first file fails: one profile is dropped per round.
    const v = validator((files) => [problem(`imported/paris/${files[0]}`, 'bad')]);
    const profiles = ['Alpha', 'Bravo', 'Charlie', 'Delta', 'Echo', 'Foxtrot', 'Golf'].map((n, i) => foreign(String(i).repeat(32), n, [`MAC0000${i}`]));
    const out = await selectAdoption({ base, foreign: profiles, known: [], outRel: 'imported/paris', validate: v.validate });
    if (out.kind !== 'invalid') throw new Error(`expected invalid, got ${out.kind}`);
    expect([...out.dropped.keys()]).toEqual(['0'.repeat(32), '1'.repeat(32), '2'.repeat(32), '3'.repeat(32), '4'.repeat(32)]);
    expect(out.errors).toEqual([problem('imported/paris/foxtrot.yaml', 'bad')]);
    expect(v.calls).toHaveLength(6);
  });
});

describe('recordAdoption', () => {
  let store: Store;
  let t: number;
  const now = (): Date => new Date((t += 1000));

  beforeEach(async () => {
    store = await openStore('memory:');
    t = Date.parse('2026-03-01T10:00:00Z');
  });
  afterEach(async () => {
    await store.close();
  });

  const adopted = (uuid: string, name: string, body: Record<string, unknown>): AdoptedProfile => ({
    uuid,
    name,
    assignmentName: name,
    wantedName: null,
    body,
    serials: ['MAC00001'],
    yamlFile: `${name}.yaml`,
    csvFile: null,
    notes: [],
  });
  const loaded: EnrollmentProfile[] = [
    enrollmentProfile('classroom-ipads', ['paris'], { profile_name: 'Classroom iPads', is_supervised: true, department: '' }),
    enrollmentProfile('staff-macs', ['paris'], { profile_name: 'Staff Macs' }),
  ];
  const rows = async () =>
    (await store.listProfiles('paris')).map((p) => ({ name: p.name, state: p.state, uuid: p.uuid, contentHash: p.contentHash, body: p.body, definedAt: p.definedAt?.toISOString() }));

  it('records each profile as defined with its Apple UUID, under the content hash plan looks up for the loaded profile', async () => {
    // The builder's body may differ from what the loader reads back; the record follows the loaded one.
    const names = await recordAdoption(store, {
      server: 'paris',
      adopted: [adopted(U1, 'classroom-ipads', { profile_name: 'Classroom iPads', url: URL_, is_supervised: true, language: 'fr' }), adopted(U2, 'staff-macs', { profile_name: 'Staff Macs', url: URL_ })],
      loaded,
      now,
    });
    expect(names).toEqual(['classroom-ipads', 'staff-macs']);
    const expected = [
      {
        name: 'classroom-ipads',
        state: 'defined',
        uuid: U1,
        // Plan keys a configured profile by profileContentHash of its body (planner.ts).
        contentHash: profileContentHash({ profile_name: 'Classroom iPads', url: URL_, is_supervised: true, department: '' }),
        body: { profile_name: 'Classroom iPads', url: URL_, is_supervised: true },
        definedAt: '2026-03-01T10:00:02.000Z',
      },
      { name: 'staff-macs', state: 'defined', uuid: U2, contentHash: profileContentHash({ profile_name: 'Staff Macs', url: URL_ }), body: { profile_name: 'Staff Macs', url: URL_ }, definedAt: '2026-03-01T10:00:04.000Z' },
    ];
    expect(await rows()).toEqual(expected);
    expect(expected[0]?.contentHash).not.toBe(profileContentHash({ profile_name: 'Classroom iPads', url: URL_, is_supervised: true, language: 'fr' }));

    // Recording the same adoption again changes nothing.
    await recordAdoption(store, { server: 'paris', adopted: [adopted(U1, 'classroom-ipads', {}), adopted(U2, 'staff-macs', {})], loaded, now });
    expect(await rows()).toEqual(expected);
  });

  it('completes a define a crash left pending for the same name and content', async () => {
    const contentHash = profileContentHash({ profile_name: 'Staff Macs', url: URL_ });
    await store.beginDefine({ server: 'paris', name: 'staff-macs', contentHash, body: { profile_name: 'Staff Macs', url: URL_ }, at: now() });
    await recordAdoption(store, { server: 'paris', adopted: [adopted(U2, 'staff-macs', {})], loaded, now });
    expect(await rows()).toEqual([{ name: 'staff-macs', state: 'defined', uuid: U2, contentHash, body: { profile_name: 'Staff Macs', url: URL_ }, definedAt: '2026-03-01T10:00:03.000Z' }]);
  });

  it('refuses a profile that is missing from the validated result', async () => {
    await expect(recordAdoption(store, { server: 'paris', adopted: [adopted(U1, 'elsewhere', {})], loaded, now })).rejects.toThrow('profile "elsewhere" is missing from the validated result');
    expect(await rows()).toEqual([]);
  });
});
