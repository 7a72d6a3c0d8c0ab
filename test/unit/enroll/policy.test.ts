import { describe, expect, it } from 'vitest';
import type { ProfileEnrollment } from '../../../controller/config/types.js';
import type { MachineInfo } from '../../../controller/enroll/machine-info.js';
import { belowMinimum, compareBuilds, compareVersions, decide, platformOf, type PolicyInput } from '../../../controller/enroll/policy.js';

const info = (extra: Partial<MachineInfo> = {}): MachineInfo => ({ UDID: 'u', SERIAL: 'C02XYZ', PRODUCT: 'iPhone15,2', VERSION: '21E236', OS_VERSION: '17.4', ...extra });
const enroll = (extra: Partial<ProfileEnrollment> = {}): ProfileEnrollment => ({ enrollment: 'corp', minimumOS: {}, olderThanMinimum: 'refuse', urlUnresolved: false, ...extra });
const input = (extra: Partial<PolicyInput> = {}): PolicyInput => ({ info: info(), profile: 'staff', enroll: enroll(), unknownSerials: 'refuse', standing: { kind: 'desired', server: 'main' }, ...extra });

describe('enrollment policy', () => {
  it('maps MachineInfo PRODUCT to a platform', () => {
    expect(['iPhone15,2', 'iPad13,1', 'iPod9,1', 'Mac14,2', 'AppleTV14,1', 'RealityDevice14,1', 'Watch7,1'].map(platformOf)).toEqual(['iOS', 'iOS', 'iOS', 'macOS', 'tvOS', 'visionOS', undefined]);
  });

  it('compares versions numerically and builds by their parts', () => {
    expect(compareVersions('17.4', '17.10')).toBe(-1);
    expect(compareVersions('17.4.0', '17.4')).toBe(0);
    expect(compareVersions('18', '17.9.9')).toBe(1);
    expect(compareBuilds('21E236', '21E258')).toBe(-1);
    expect(compareBuilds('21F79', '21E258')).toBe(1);
    expect(compareBuilds('22A3354', '21F79')).toBe(1);
    expect(compareBuilds('21E236a', '21E236')).toBe(1);
    expect(compareBuilds('21E236', 'beta')).toBeUndefined();
  });

  it('finds a device below the minimum by version, by build at the same version, or without OS_VERSION', () => {
    expect(belowMinimum(info({ OS_VERSION: '17.2' }), { version: '17.4' })).toContain('17.2 is older than the minimum 17.4');
    expect(belowMinimum(info({ VERSION: '21E219' }), { version: '17.4', build: '21E236' })).toContain('build 21E219');
    expect(belowMinimum(info({ VERSION: '21E236' }), { version: '17.4', build: '21E236' })).toBeUndefined();
    expect(belowMinimum(info({ OS_VERSION: '17.5', VERSION: '21F79' }), { version: '17.4', build: '21E236' })).toBeUndefined();
    const { OS_VERSION: _omit, ...old } = info();
    expect(belowMinimum(old, { version: '16.0' })).toContain('did not report OS_VERSION');
  });

  it('enrolls a desired device at or above the minimum', () => {
    expect(decide(input({ enroll: enroll({ minimumOS: { iOS: { version: '17.4' } } }) }))).toMatchObject({ outcome: 'enrolled', reason: 'enrolled', server: 'main' });
  });

  it('refuses a serial on no server unless unknownSerials is allow', () => {
    expect(decide(input({ standing: { kind: 'unknown' } }))).toMatchObject({ outcome: 'refused', reason: 'unknown-serial', server: null });
    expect(decide(input({ standing: { kind: 'unknown' }, unknownSerials: 'allow' }))).toMatchObject({ outcome: 'enrolled', reason: 'enrolled-unknown-serial' });
  });

  it('refuses a serial desired for another profile and says which', () => {
    const d = decide(input({ standing: { kind: 'other-profile', server: 'main', desired: 'lab' } }));
    expect(d).toMatchObject({ outcome: 'refused', reason: 'wrong-profile', server: 'main' });
    expect(d.message).toContain('profile "lab"');
  });

  it('holds an old device that can update with softwareupdate.required (BuildVersion only when declared)', () => {
    const withBuild = decide(input({ info: info({ OS_VERSION: '17.1', MDM_CAN_REQUEST_SOFTWARE_UPDATE: true }), enroll: enroll({ minimumOS: { iOS: { version: '17.4', build: '21E236' } } }) }));
    expect(withBuild.outcome).toBe('held-for-update');
    expect(withBuild.updateRequired?.details).toEqual({ OSVersion: '17.4', BuildVersion: '21E236' });
    const noBuild = decide(input({ info: info({ PRODUCT: 'Mac14,2', OS_VERSION: '14.1', MDM_CAN_REQUEST_SOFTWARE_UPDATE: true }), enroll: enroll({ minimumOS: { macOS: { version: '14.4' } } }) }));
    expect(noBuild.updateRequired).toEqual({ code: 'com.apple.softwareupdate.required', description: 'Update to macOS 14.4 or later to enroll.', details: { OSVersion: '14.4' } });
  });

  it('refuses or enrolls an old device that cannot update as olderThanMinimum says', () => {
    const old = { info: info({ OS_VERSION: '17.1', MDM_CAN_REQUEST_SOFTWARE_UPDATE: false }) };
    expect(decide(input({ ...old, enroll: enroll({ minimumOS: { iOS: { version: '17.4' } } }) }))).toMatchObject({ outcome: 'refused', reason: 'os-too-old' });
    expect(decide(input({ ...old, enroll: enroll({ minimumOS: { iOS: { version: '17.4' } }, olderThanMinimum: 'enroll' }) }))).toMatchObject({ outcome: 'enrolled', reason: 'enrolled-below-minimum' });
  });

  it('applies only the minimum of the device platform', () => {
    expect(decide(input({ info: info({ OS_VERSION: '15.0' }), enroll: enroll({ minimumOS: { macOS: { version: '14.4' } } }) })).outcome).toBe('enrolled');
  });
});
