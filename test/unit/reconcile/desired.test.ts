import { describe, expect, it } from 'vitest';
import { compileMatch, compileServerRules, decide } from '../../../controller/reconcile/desired.js';
import type { Assignment, MdmServer } from '../../../controller/config/types.js';
import { assignment, depConfig, device, enrollmentProfile, mdmServer } from '../../helpers/reconcile-fakes.js';

const profiles = ['ipads', 'macs', 'loaners', 'staff'].map((p) => enrollmentProfile(p, ['paris', 'lyon']));

function decideOn(assignments: Assignment[], d = device('F9FXK1ABCD12'), server: Partial<MdmServer> = {}, serverName = 'paris') {
  const config = depConfig({ servers: [mdmServer('paris', server), mdmServer('lyon')], profiles, assignments });
  return decide(compileServerRules(config, serverName), d);
}

describe('decide: which profile a device should have', () => {
  it('an explicit serial beats every match rule, whatever its priority', () => {
    const d = decideOn([
      assignment('all-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] }, priority: 1000 }),
      assignment('loan-pool', 'loaners', ['paris'], { serials: ['F9FXK1ABCD12'], priority: -5 }),
    ]);
    expect(d).toEqual({ kind: 'profile', profile: 'loaners', source: 'serial', assignment: 'loan-pool' });
  });

  it('the higher-priority matching rule wins, in whichever order the assignments are listed', () => {
    const low = assignment('by-family', 'ipads', ['paris'], { match: { device_family: ['iPad'] }, priority: 5 });
    const high = assignment('by-model', 'staff', ['paris'], { match: { model: ['iPad Air'] }, priority: 10 });
    const want = { kind: 'profile', profile: 'staff', source: 'match', assignment: 'by-model' };
    expect(decideOn([low, high])).toEqual(want);
    expect(decideOn([high, low])).toEqual(want);
  });

  it('two equal-priority rules wanting different profiles are a conflict naming both assignments', () => {
    const d = decideOn([
      assignment('by-family', 'ipads', ['paris'], { match: { device_family: ['iPad'] }, priority: 5 }),
      assignment('by-model', 'staff', ['paris'], { match: { model: ['iPad*'] }, priority: 5 }),
    ]);
    expect(d.kind).toBe('conflict');
    if (d.kind !== 'conflict') return;
    expect(d.message).toContain('"by-family"');
    expect(d.message).toContain('"by-model"');
    expect(d.message).toContain('"ipads"');
    expect(d.message).toContain('"staff"');
  });

  it('equal-priority rules wanting the same profile are fine', () => {
    const d = decideOn([
      assignment('by-family', 'ipads', ['paris'], { match: { device_family: ['iPad'] }, priority: 5 }),
      assignment('by-model', 'ipads', ['paris'], { match: { model: ['iPad*'] }, priority: 5 }),
    ]);
    expect(d).toMatchObject({ kind: 'profile', profile: 'ipads', source: 'match' });
  });

  it('equal-priority rules conflict only when both match the device', () => {
    const d = decideOn([
      assignment('by-family', 'ipads', ['paris'], { match: { device_family: ['iPad'] }, priority: 5 }),
      assignment('macs', 'macs', ['paris'], { match: { device_family: ['Mac'] }, priority: 5 }),
    ]);
    expect(d).toEqual({ kind: 'profile', profile: 'ipads', source: 'match', assignment: 'by-family' });
  });

  it('a conflict below the winning priority does not matter', () => {
    const d = decideOn([
      assignment('top', 'staff', ['paris'], { match: { serialPrefix: ['F9F'] }, priority: 20 }),
      assignment('by-family', 'ipads', ['paris'], { match: { device_family: ['iPad'] }, priority: 5 }),
      assignment('by-model', 'loaners', ['paris'], { match: { model: ['iPad*'] }, priority: 5 }),
    ]);
    expect(d).toEqual({ kind: 'profile', profile: 'staff', source: 'match', assignment: 'top' });
  });

  it('defaultProfile is used only with unassignedDevices: default', () => {
    const none: Assignment[] = [];
    expect(decideOn(none, device('X1'), { defaultProfile: 'staff', unassignedDevices: 'default' })).toEqual({ kind: 'profile', profile: 'staff', source: 'default', assignment: null });
    expect(decideOn(none, device('X1'), { defaultProfile: 'staff', unassignedDevices: 'ignore' })).toEqual({ kind: 'ignore' });
    expect(decideOn(none, device('X1'), { defaultProfile: 'staff', unassignedDevices: 'remove' })).toEqual({ kind: 'remove' });
  });

  it('defaultProfiles: the entry for the device family first, then defaultProfile, and source stays default', () => {
    const none: Assignment[] = [];
    const server: Partial<MdmServer> = { defaultProfiles: { Mac: 'macs', iPad: 'ipads' }, defaultProfile: 'staff', unassignedDevices: 'default' };
    const mac = device('C02T0HL0GGC0', { device_family: 'Mac', os: 'OSX', model: 'MacBook Pro' });
    const phone = device('F2LXK1ABCD12', { device_family: 'iPhone', os: 'iOS', model: 'iPhone 16' });
    const vision = device('V1SXK1ABCD12', { device_family: 'Vision', os: 'visionOS', model: 'Apple Vision Pro' });
    expect(decideOn(none, mac, server)).toEqual({ kind: 'profile', profile: 'macs', source: 'default', assignment: null });
    expect(decideOn(none, device('X1'), server)).toEqual({ kind: 'profile', profile: 'ipads', source: 'default', assignment: null });
    expect(decideOn(none, phone, server)).toEqual({ kind: 'profile', profile: 'staff', source: 'default', assignment: null });
    expect(decideOn(none, vision, server)).toEqual({ kind: 'profile', profile: 'staff', source: 'default', assignment: null });
    // A device without device_family (protocol v1) falls to the catch-all.
    expect(decideOn(none, device('X2', { device_family: undefined }), server)).toMatchObject({ profile: 'staff' });
  });

  it('defaultProfiles without a catch-all leaves devices of other families alone', () => {
    const server: Partial<MdmServer> = { defaultProfiles: { Mac: 'macs' }, unassignedDevices: 'default' };
    expect(decideOn([], device('C02T0HL0GGC0', { device_family: 'Mac', os: 'OSX' }), server)).toMatchObject({ kind: 'profile', profile: 'macs' });
    expect(decideOn([], device('X1'), server)).toEqual({ kind: 'ignore' });
    // Family names are Apple's exact spelling, as in match rules; an object's own keys only.
    expect(decideOn([], device('X2', { device_family: 'mac' }), server)).toEqual({ kind: 'ignore' });
    expect(decideOn([], device('X3', { device_family: 'toString' }), server)).toEqual({ kind: 'ignore' });
  });

  it('defaultProfiles is used only with unassignedDevices: default, and never over an assignment', () => {
    const mac = device('C02T0HL0GGC0', { device_family: 'Mac', os: 'OSX', model: 'MacBook Pro' });
    expect(decideOn([], mac, { defaultProfiles: { Mac: 'macs' }, unassignedDevices: 'ignore' })).toEqual({ kind: 'ignore' });
    expect(decideOn([], mac, { defaultProfiles: { Mac: 'macs' }, unassignedDevices: 'remove' })).toEqual({ kind: 'remove' });
    const rules = [assignment('loans', 'loaners', ['paris'], { match: { model: ['MacBook*'] } })];
    expect(decideOn(rules, mac, { defaultProfiles: { Mac: 'macs' }, unassignedDevices: 'default' })).toMatchObject({ profile: 'loaners', source: 'match' });
  });

  it('unassignedDevices: remove clears only devices no assignment names; ignore leaves them alone', () => {
    const rules = [assignment('by-family', 'macs', ['paris'], { match: { device_family: ['Mac'] } })];
    expect(decideOn(rules, device('X1'), { unassignedDevices: 'remove' })).toEqual({ kind: 'remove' });
    expect(decideOn(rules, device('X1', { device_family: 'Mac', os: 'OSX', model: 'MacBook Pro' }), { unassignedDevices: 'remove' })).toMatchObject({ kind: 'profile', profile: 'macs' });
    expect(decideOn(rules, device('X1'), { unassignedDevices: 'ignore' })).toEqual({ kind: 'ignore' });
    expect(decideOn(rules, device('X1'))).toEqual({ kind: 'ignore' });
  });

  it('an assignment restricted to other servers neither lists serials nor matches on this one', () => {
    const rules = [
      assignment('paris-serials', 'loaners', ['paris'], { serials: ['F9FXK1ABCD12'] }),
      assignment('paris-ipads', 'ipads', ['paris'], { match: { device_family: ['iPad'] } }),
      assignment('lyon-all', 'staff', ['lyon'], { match: { serialPrefix: ['F9F'] }, priority: -1 }),
    ];
    expect(decideOn(rules, device('F9FXK1ABCD12'), {}, 'paris')).toMatchObject({ profile: 'loaners', source: 'serial' });
    expect(decideOn(rules, device('F9FXK1ABCD12'), {}, 'lyon')).toEqual({ kind: 'profile', profile: 'staff', source: 'match', assignment: 'lyon-all' });
    expect(decideOn(rules, device('C02XYZ'), {}, 'lyon')).toEqual({ kind: 'ignore' });
  });

  it('an unknown server is a programming error', () => {
    expect(() => compileServerRules(depConfig({ servers: [mdmServer('paris')] }), 'nowhere')).toThrow(/nowhere/);
  });
});

describe('compileMatch: selectors on Apple device attributes', () => {
  const ipad = device('F9FXK1ABCD12', { model: 'iPad (10th generation)', description: 'IPAD 10.9 WI-FI 64GB SILVER', color: 'SILVER' });
  const mac = device('C02T0HL0GGC0', { device_family: 'Mac', os: 'OSX', model: 'MacBook Pro', description: 'MBP 13.3 SPACE GRAY/2.0GHZ/8GB/256GB-USA', color: 'SPACE GRAY' });

  it('device_family and os match any listed value', () => {
    const t = compileMatch({ device_family: ['Mac', 'iPad'] });
    expect([t(ipad), t(mac)]).toEqual([true, true]);
    expect(compileMatch({ device_family: ['iPhone'] })(ipad)).toBe(false);
    expect(compileMatch({ os: ['OSX'] })(mac)).toBe(true);
    expect(compileMatch({ os: ['iOS'] })(ipad)).toBe(false);
  });

  it('model, description and color are case-insensitive globs where * matches any run, including none', () => {
    expect(compileMatch({ model: ['ipad*'] })(ipad)).toBe(true);
    expect(compileMatch({ model: ['IPAD (10TH GENERATION)'] })(ipad)).toBe(true);
    expect(compileMatch({ model: ['MacBook Pro*'] })(mac)).toBe(true);
    expect(compileMatch({ model: ['*book*'] })(mac)).toBe(true);
    expect(compileMatch({ model: ['MacBook'] })(mac)).toBe(false);
    expect(compileMatch({ description: ['MBP 13.3*'] })(mac)).toBe(true);
    expect(compileMatch({ description: ['mbp 13.3 space gray*'] })(mac)).toBe(true);
    expect(compileMatch({ description: ['MBP 14*'] })(mac)).toBe(false);
    expect(compileMatch({ color: ['space gray'] })(mac)).toBe(true);
    expect(compileMatch({ color: ['space gray'] })(ipad)).toBe(false);
  });

  it('glob patterns are literal apart from *: regex characters in a model name are not special', () => {
    expect(compileMatch({ model: ['iPad (10th generation)'] })(ipad)).toBe(true);
    expect(compileMatch({ model: ['iPad .10th generation.'] })(ipad)).toBe(false);
    expect(compileMatch({ description: ['MBP 13.3 SPACE GRAY/2.0GHZ/8GB/256GB-USA'] })(mac)).toBe(true);
    expect(compileMatch({ description: ['MBP 13x3*'] })(mac)).toBe(false);
  });

  it('serialPrefix matches the start of the serial, ignoring case', () => {
    expect(compileMatch({ serialPrefix: ['f9f'] })(ipad)).toBe(true);
    expect(compileMatch({ serialPrefix: ['X', 'C02'] })(mac)).toBe(true);
    expect(compileMatch({ serialPrefix: ['FXK1'] })(ipad)).toBe(false);
  });

  it('every given attribute must match (AND), and a device lacking the attribute does not match', () => {
    const t = compileMatch({ device_family: ['iPad'], model: ['iPad Air'] });
    expect(t(device('A1', { model: 'iPad Air' }))).toBe(true);
    expect(t(device('A2', { model: 'iPad mini' }))).toBe(false);
    expect(t(device('A3', { device_family: 'iPhone', model: 'iPad Air' }))).toBe(false);
    expect(compileMatch({ color: ['*'] })(device('A4', { color: undefined }))).toBe(false);
  });

  it('a null attribute is absent: it matches no pattern (not even "*" or "nu*") and picks no family default', () => {
    // Apple's schema has strings; a stored record may still hold null, and the differ's reduced read leaves it out.
    const nulls = { ...device('A5'), description: null, color: null, model: null, device_family: null } as unknown as Parameters<ReturnType<typeof compileMatch>>[0];
    for (const match of [{ description: ['*'] }, { color: ['nu*'] }, { model: ['null'] }]) expect(compileMatch(match)(nulls)).toBe(false);
    const config = depConfig({ servers: [mdmServer('paris', { unassignedDevices: 'default', defaultProfiles: { iPad: 'ipads' } })], profiles, assignments: [] });
    expect(decide(compileServerRules(config, 'paris'), nulls)).toEqual({ kind: 'ignore' });
  });
});
