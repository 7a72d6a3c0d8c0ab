import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { APPLE_PROFILE_DEFAULTS, canonicalProfile, profileContentHash } from '../../../controller/reconcile/profile-content.js';
import { validateProfile } from '../../../controller/sim/profile-validation.js';
import { normaliseFetchedProfile } from '../../../controller/dep/profile.js';
import type { FetchProfileWireResponse } from '../../../controller/dep/types.js';
import { createDepClient } from '../../../controller/dep/index.js';
import { toAppleProfile } from '../../../controller/reconcile/apply.js';
import { startSimulator } from '../../../controller/sim/index.js';
import type { ProfileBody } from '../../../controller/config/types.js';

const base = {
  profile_name: 'Classroom iPads',
  url: 'https://mdm.example.com/enroll',
  is_supervised: true,
  is_mdm_removable: false,
  department: 'Lycée Voltaire IT',
  support_phone_number: '+33 1 23 45 67 89',
  skip_setup_items: ['Location', 'Restore', 'AppleID', 'TOS', 'Siri'],
};
const hash = (p: Record<string, unknown>): string => profileContentHash(p);

describe('profileContentHash: Apple defaults are not changes', () => {
  it('allow_pairing: true and is_mdm_removable: true hash like the key left out', () => {
    const minimal = { profile_name: 'Macs', url: 'https://mdm.example.com/enroll' };
    expect(hash({ ...minimal, allow_pairing: true })).toBe(hash(minimal));
    expect(hash({ ...minimal, is_mdm_removable: true })).toBe(hash(minimal));
  });

  it('every boolean whose default is false hashes the same set to false or left out', () => {
    const minimal = { profile_name: 'Macs', url: 'https://mdm.example.com/enroll' };
    const falseByDefault = Object.entries(APPLE_PROFILE_DEFAULTS).filter(([, v]) => v === false).map(([k]) => k);
    expect(falseByDefault).toEqual(expect.arrayContaining(['is_supervised', 'is_multi_user', 'is_mandatory', 'await_device_configured', 'auto_advance_setup', 'do_not_use_profile_from_backup', 'is_return_to_service']));
    for (const key of falseByDefault) expect(hash({ ...minimal, [key]: false }), key).toBe(hash(minimal));
  });

  it('a boolean set against its default is a change', () => {
    const minimal = { profile_name: 'Macs', url: 'https://mdm.example.com/enroll' };
    expect(hash({ ...minimal, allow_pairing: false })).not.toBe(hash(minimal));
    expect(hash({ ...minimal, is_supervised: true, is_mdm_removable: false })).not.toBe(hash({ ...minimal, is_supervised: true }));
    for (const key of ['is_supervised', 'is_multi_user', 'is_mandatory', 'await_device_configured', 'auto_advance_setup', 'do_not_use_profile_from_backup', 'is_return_to_service']) {
      expect(hash({ ...minimal, [key]: true }), key).not.toBe(hash(minimal));
    }
  });

  it('skip_setup_items order and duplicates do not change the hash; an empty list is the same as none', () => {
    expect(hash({ ...base, skip_setup_items: ['Siri', 'TOS', 'AppleID', 'Restore', 'Location', 'Siri'] })).toBe(hash(base));
    const { skip_setup_items: _skip, ...without } = base;
    expect(hash({ ...without, skip_setup_items: [] })).toBe(hash(without));
  });

  it('certificate lists ignore order and line breaks', () => {
    const cert = 'MIIBszCCAVmgAwIBAgIUQ2VydA==';
    const other = 'MIIBtDCCAVqgAwIBAgIUT3RoZXI=';
    expect(hash({ ...base, anchor_certs: [cert, other] })).toBe(hash({ ...base, anchor_certs: [`${other.slice(0, 10)}\n${other.slice(10)}`, cert] }));
    expect(hash({ ...base, anchor_certs: [cert] })).not.toBe(hash({ ...base, anchor_certs: [other] }));
  });

  it('devices and profile_uuid are not content', () => {
    expect(hash({ ...base, devices: ['F9FXK1ABCD12'], profile_uuid: 'C1F123098EB5074580041E69883004C3' })).toBe(hash(base));
  });

  it('key order does not change the hash', () => {
    const reversed = Object.fromEntries(Object.entries(base).reverse());
    expect(hash(reversed)).toBe(hash(base));
  });

  it('any real change does', () => {
    const h = hash(base);
    const changes: Record<string, unknown>[] = [
      { department: 'Lycée Voltaire' },
      { profile_name: 'Classroom iPads 2' },
      { url: 'https://mdm.example.com/enroll2' },
      { support_phone_number: '+33 1 23 45 67 80' },
      { support_email_address: 'it@example.com' },
      { skip_setup_items: [...base.skip_setup_items, 'Payment'] },
      { skip_setup_items: base.skip_setup_items.slice(1) },
      { is_mdm_removable: true },
      { language: 'fr' },
      { region: 'FR' },
      { configuration_web_url: 'https://mdm.example.com/web' },
      { org_magic: 'ABC' },
    ];
    const seen = new Set([h]);
    for (const change of changes) {
      const changed = hash({ ...base, ...change });
      expect(changed, JSON.stringify(change)).not.toBe(h);
      seen.add(changed);
    }
    expect(seen.size).toBe(changes.length + 1);
  });

  it('is a 64-digit hex SHA-256 and canonicalProfile drops exactly the ignored keys', () => {
    expect(hash(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(canonicalProfile({ ...base, allow_pairing: true, is_multi_user: false, devices: ['X'], region: '', language: null })).toEqual({
      department: base.department,
      is_mdm_removable: false,
      is_supervised: true,
      profile_name: base.profile_name,
      skip_setup_items: ['AppleID', 'Location', 'Restore', 'Siri', 'TOS'],
      support_phone_number: base.support_phone_number,
      url: base.url,
    });
  });
});

describe('profileContentHash: a profile read back from Apple hashes like its YAML', () => {
  it('the simulator fills in Apple defaults on define; the read-back hashes like the YAML', () => {
    const yaml = parse(`
profile_name: Classroom iPads
url: https://mdm.example.com/enroll
is_supervised: true
is_mdm_removable: false
await_device_configured: true
department: Lycée Voltaire IT
skip_setup_items: [Location, Restore, AppleID, TOS, Siri]
`) as Record<string, unknown>;
    const stored = validateProfile({ ...yaml, devices: ['F9FXK1ABCD12'] });
    expect(stored.ok).toBe(true);
    if (!stored.ok) return;
    // The simulator really does add keys the YAML left out, so this compares different objects.
    expect(stored.profile).toMatchObject({ allow_pairing: true, is_mandatory: false, is_multi_user: false });
    expect(hash({ ...stored.profile, profile_uuid: '8A2C0D1E4F5B6C7D' })).toBe(hash(yaml));
  });

  it('a profile defined through the real client on the simulator and read back over HTTP hashes like its YAML', async () => {
    const yaml = parse(`
profile_name: Staff Macs
url: https://mdm.example.com/enroll
is_supervised: true
is_mdm_removable: false
await_device_configured: true
support_email_address: it@example.com
skip_setup_items: [Siri, AppleID, Siri, Diagnostics]
`) as Record<string, unknown>;
    const sim = await startSimulator({ devices: 0, seed: 5 });
    const client = createDepClient({ baseUrl: sim.url, token: sim.token });
    try {
      const { profile_uuid } = await client.defineProfile(toAppleProfile(yaml as unknown as ProfileBody));
      const back = await client.getProfile(profile_uuid);
      expect(Object.keys(back).length).toBeGreaterThan(Object.keys(yaml).length);
      expect(hash(back as unknown as Record<string, unknown>)).toBe(hash(yaml));
    } finally {
      await client.close();
      await sim.close();
    }
  });

  it("Apple's real GET /profile response (micromdm fixture) hashes like the YAML that would produce it", () => {
    const fetched = JSON.parse(readFileSync(new URL('../../fixtures/apple/fetch_profile_response.json', import.meta.url), 'utf8')) as FetchProfileWireResponse;
    const yaml = parse(`
profile_name: default
url: https://mdm.acme.co/mdm/enroll
await_device_configured: true
department: "(Optional) support@example.com"
support_phone_number: "(Optional) +1 877 527 7454"
support_email_address: "(Optional) support@example.com"
org_magic: 0729093D-D02C-4D8B-89DC-4EF900AED5B2
skip_setup_items: [Android, AppleID]
`) as Record<string, unknown>;
    expect(hash(normaliseFetchedProfile(fetched) as unknown as Record<string, unknown>)).toBe(hash(yaml));
    // And it is not trivially equal: one real difference shows.
    expect(hash(normaliseFetchedProfile(fetched) as unknown as Record<string, unknown>)).not.toBe(hash({ ...yaml, await_device_configured: false }));
  });

  it('booleans Apple returns without the is_ prefix hash like the documented names once normalised', () => {
    const wire = { profile_name: 'Macs', url: 'https://mdm.example.com/enroll', supervised: true, mdm_removable: false, mandatory: false, multi_user: false, allow_pairing: true, profile_uuid: 'C1F1' };
    const yaml = { profile_name: 'Macs', url: 'https://mdm.example.com/enroll', is_supervised: true, is_mdm_removable: false };
    expect(hash(normaliseFetchedProfile(wire as unknown as FetchProfileWireResponse) as unknown as Record<string, unknown>)).toBe(hash(yaml));
  });
});
