import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildAdoption, CSV_HEADER, IMPORT_MARKER, profileBody, profileKeysFromSchema, slugify, uniqueName, type AdoptInput, type ForeignProfile } from '../../../controller/reconcile/adopt.js';
import { normaliseFetchedProfile } from '../../../controller/dep/profile.js';
import { readSchemaFiles } from '../../../controller/config/schemas.js';
import { skipKeyCatalogue } from '../../../controller/config/skip-keys.js';
import { parseSerialFile } from '../../../controller/config/serials.js';
import { profileContentHash } from '../../../controller/reconcile/profile-content.js';
import type { FetchProfileWireResponse } from '../../../controller/dep/types.js';

const schemas = readSchemaFiles();
const catalogue = skipKeyCatalogue(schemas);
const profileKeys = profileKeysFromSchema(schemas['enrollment-profile.schema.json'] ?? {});
const skipKeys = new Set([...catalogue.current, ...catalogue.deprecated]);

function input(profiles: ForeignProfile[], over: Partial<AdoptInput> = {}): AdoptInput {
  return {
    server: 'paris',
    profiles,
    takenProfileNames: new Set(),
    takenAssignmentNames: new Set(),
    listedSerials: new Map(),
    csvThreshold: 500,
    profileKeys,
    skipKeys,
    importedAt: new Date('2026-03-01T10:00:00Z'),
    ...over,
  };
}

const serials = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(8, '0')}`);
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> });

describe('slugify and uniqueName', () => {
  it('turns profile names into metadata names', () => {
    expect(slugify('Classroom iPads')).toBe('classroom-ipads');
    expect(slugify('  Lycée Voltaire — Salle 3 ')).toBe('lycee-voltaire-salle-3');
    expect(slugify('!!!')).toBe('profile');
    expect(slugify('x'.repeat(80))).toHaveLength(63);
    expect(slugify(`${'a'.repeat(62)} b`)).toBe('a'.repeat(62));
  });

  it('adds a numeric suffix within 63 characters', () => {
    expect(uniqueName('macs', new Set(['macs', 'macs-2']))).toBe('macs-3');
    const long = 'a'.repeat(63);
    const name = uniqueName(long, new Set([long]));
    expect(name).toBe(`${'a'.repeat(61)}-2`);
    expect(name).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
  });
});

describe('profileBody', () => {
  it('reads the recorded Apple answer: drops defaults, empty strings and the UUID; keeps schema order', async () => {
    const wire = JSON.parse(await readFile(new URL('../../fixtures/apple/fetch_profile_response.json', import.meta.url), 'utf8')) as FetchProfileWireResponse;
    const { body, notes } = profileBody(normaliseFetchedProfile({ ...wire, department: '' }), profileKeys, skipKeys);
    expect(Object.keys(body)).toEqual(['profile_name', 'url', 'await_device_configured', 'support_phone_number', 'support_email_address', 'org_magic', 'skip_setup_items']);
    expect(body['await_device_configured']).toBe(true);
    expect(notes).toEqual([]);
    // Dropping defaults and empty strings does not change the identity of the content Apple holds.
    expect(profileContentHash(body)).toBe(profileContentHash(normaliseFetchedProfile({ ...wire, department: '' }) as unknown as Record<string, unknown>));
  });

  it('maps un-prefixed booleans through the client normalisation and keeps non-default values', () => {
    const wire = { profile_name: 'A', url: 'https://m.example.com', supervised: true, mdm_removable: false, mandatory: false, profile_uuid: 'U' } as unknown as FetchProfileWireResponse;
    const { body } = profileBody(normaliseFetchedProfile(wire), profileKeys, skipKeys);
    expect(body).toEqual({ profile_name: 'A', url: 'https://m.example.com', is_supervised: true, is_mdm_removable: false });
  });

  it('notes unknown keys, wrong types and SkipKeys depctl does not know', () => {
    const { body, notes } = profileBody(
      { profile_name: 'A', url: 'https://m.example.com', future_key: 1, is_multi_user: 'yes', skip_setup_items: ['Siri', 'NotAKey', 'Siri'], anchor_certs: [] },
      profileKeys,
      skipKeys,
    );
    expect(body).toEqual({ profile_name: 'A', url: 'https://m.example.com', skip_setup_items: ['Siri'] });
    expect(notes).toEqual(['is_multi_user: not a boolean, left out', 'skip_setup_items: NotAKey left out (not a SkipKey depctl knows)', 'future_key: not a profile key depctl knows, left out']);
  });

  it('keeps SkipKeys Apple removed when the set says so (they still act on older OS versions)', () => {
    const { body, notes } = profileBody({ profile_name: 'A', url: 'https://m.example.com', skip_setup_items: ['Siri', 'OSShowcase'] }, profileKeys, new Set([...skipKeys, 'OSShowcase']));
    expect(body).toEqual({ profile_name: 'A', url: 'https://m.example.com', skip_setup_items: ['Siri', 'OSShowcase'] });
    expect(notes).toEqual([]);
  });
});

describe('buildAdoption', () => {
  const profile = (name: string, extra: Record<string, unknown> = {}) => ({ profile_name: name, url: 'https://mdm.example.com/enroll', ...extra });

  it('writes one file per profile with a header, the profile on this server and its assignment', () => {
    const a = buildAdoption(input([{ uuid: 'U1', profile: profile('Staff Macs', { is_supervised: true, department: '' }), serials: ['C02B', 'C02A'] }]));
    expect(a.profiles.map((p) => [p.name, p.assignmentName, p.serials])).toEqual([['staff-macs', 'staff-macs', ['C02A', 'C02B']]]);
    const text = a.files.get('staff-macs.yaml') ?? '';
    expect(text.startsWith(`${IMPORT_MARKER} from MdmServer "paris" at 2026-03-01T10:00:00.000Z.`)).toBe(true);
    expect(text).toContain('U1');
    expect(docs(text)).toEqual([
      { apiVersion: 'depctl/v1', kind: 'EnrollmentProfile', metadata: { name: 'staff-macs' }, spec: { servers: ['paris'], profile: { profile_name: 'Staff Macs', url: 'https://mdm.example.com/enroll', is_supervised: true } } },
      { apiVersion: 'depctl/v1', kind: 'Assignment', metadata: { name: 'staff-macs' }, spec: { profile: 'staff-macs', serials: ['C02A', 'C02B'] } },
    ]);
  });

  it('makes colliding slugs unique against the config and each other, larger groups first', () => {
    const a = buildAdoption(
      input(
        [
          { uuid: 'SMALL', profile: profile('Macs'), serials: ['S1'] },
          { uuid: 'BIG', profile: profile('MACS'), serials: ['B1', 'B2'] },
          { uuid: 'THIRD', profile: profile('macs!'), serials: ['T1'] },
        ],
        { takenProfileNames: new Set(['other']), takenAssignmentNames: new Set(['macs']) },
      ),
    );
    const byUuid = Object.fromEntries(a.profiles.map((p) => [p.uuid, [p.name, p.assignmentName, p.wantedName]]));
    expect(byUuid).toEqual({ BIG: ['macs', 'macs-2', null], SMALL: ['macs-2', 'macs-2-2', 'macs'], THIRD: ['macs-3', 'macs-3', 'macs'] });
    expect([...a.files.keys()].sort()).toEqual(['macs-2.yaml', 'macs-3.yaml', 'macs.yaml']);
  });

  it('keeps a name recorded before for the UUID when it is free', () => {
    const a = buildAdoption(input([
      { uuid: 'BIG', profile: profile('Lab'), serials: ['B1', 'B2'] },
      { uuid: 'OLD', profile: profile('Lab'), serials: ['O1'], preferredName: 'lab' },
    ]));
    expect(a.profiles.map((p) => [p.uuid, p.name])).toEqual([['OLD', 'lab'], ['BIG', 'lab-2']]);
  });

  it('sends groups above the threshold to a CSV the config loader reads back', () => {
    const many = serials('F9', 6);
    const a = buildAdoption(input([{ uuid: 'U', profile: profile('Carts'), serials: many }, { uuid: 'V', profile: profile('Few'), serials: serials('G7', 5) }], { csvThreshold: 5 }));
    expect(docs(a.files.get('carts.yaml') ?? '')[1]?.spec).toEqual({ profile: 'carts', serialFiles: ['carts.csv'] });
    const csv = a.files.get('carts.csv') ?? '';
    expect(csv.split('\n')[0]).toBe(CSV_HEADER);
    const parsed = parseSerialFile(csv);
    expect(parsed.problem).toBeUndefined();
    expect(parsed.entries.map((e) => e.raw)).toEqual(many);
    expect(a.files.has('few.csv')).toBe(false);
    expect(docs(a.files.get('few.yaml') ?? '')[1]?.spec['serials']).toHaveLength(5);
  });

  it('leaves out serials existing assignments list, and profiles whose devices are all listed', () => {
    const a = buildAdoption(
      input(
        [
          { uuid: 'U', profile: profile('Mixed'), serials: ['A1', 'A2', 'A3'] },
          { uuid: 'W', profile: profile('Pinned'), serials: ['P1'] },
        ],
        { listedSerials: new Map([['A2', 'carts'], ['A3', 'labs'], ['P1', 'carts']]) },
      ),
    );
    expect(a.profiles.map((p) => [p.name, p.serials])).toEqual([['mixed', ['A1']]]);
    expect(a.leftOut).toEqual([
      { uuid: 'U', assignment: 'carts', serials: ['A2'] },
      { uuid: 'U', assignment: 'labs', serials: ['A3'] },
      { uuid: 'W', assignment: 'carts', serials: ['P1'] },
    ]);
    expect(a.fullyListed).toEqual(['W']);
    expect(a.files.has('pinned.yaml')).toBe(false);
  });

  it('notes what was left out of Apple\'s answer in the file header', () => {
    const a = buildAdoption(input([{ uuid: 'U', profile: profile('Old', { skip_setup_items: ['Wallpaper', 'TOS'] }), serials: ['X1'] }]));
    const text = a.files.get('old.yaml') ?? '';
    expect(text).toContain("# Left out of Apple's answer: skip_setup_items: Wallpaper left out");
    expect(docs(text)[0]?.spec['profile']).toEqual({ profile_name: 'Old', url: 'https://mdm.example.com/enroll', skip_setup_items: ['TOS'] });
  });
});
