import { describe, expect, it } from 'vitest';
import { renderPlanText } from '../../../../controller/cli/views/plan-text.js';
import type { Plan, ServerPlan } from '../../../../controller/reconcile/plan.js';
import { buildPlan, hostilePlan, inLinePlan, largePlan, messyPlan, serverPlan, smallPlan } from '../../../helpers/plans.js';

const n = (x: number): string => x.toLocaleString('en-US');
const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, ''); // eslint-disable-line no-control-regex
const lines = (s: string): string[] => s.split('\n');
const lastLine = (s: string): string => lines(s.trimEnd()).at(-1) ?? '';

/** The lines of one server's block: from its header to the next blank line. */
function block(out: string, server: string): string[] {
  const all = lines(out);
  const start = all.findIndex((l) => l.startsWith(`Server ${server}:`));
  expect(start).toBeGreaterThanOrEqual(0);
  const end = all.indexOf('', start);
  return all.slice(start, end);
}

function server(plan: Plan, name: string): ServerPlan {
  const s = plan.servers.find((x) => x.server === name);
  if (!s) throw new Error(`no server ${name}`);
  return s;
}

describe('renderPlanText', () => {
  it('says there is nothing to do when Apple matches the configuration', () => {
    const out = renderPlanText(inLinePlan());
    expect(lastLine(out)).toBe('No changes. Apple is in line with the configuration.');
    expect(out).toContain('Server paris: 1,200 devices, all as configured');
    expect(out).not.toMatch(/^ {2}[-+~!>?] /m);
  });

  it('ends with a summary line counting defines, assigned and removed serials, drift and deferred', () => {
    expect(lastLine(renderPlanText(smallPlan()))).toBe('Plan: 1 profile to define, 15 devices to assign, 0 to remove; 0 drift findings; 0 deferred.');
    const messy = messyPlan();
    const out = renderPlanText(messy);
    const s = messy.summary;
    expect(out).toContain(
      `Plan: ${s.defines} profile to define, ${s.assign} devices to assign, ${s.remove} to remove; ${s.drift} drift findings; ${s.deferred} deferred; ${s.conflicts} conflicts; 1 server failed (lyon).`,
    );
  });

  it('does not call a plan with a failed server and no changes an all-clear', () => {
    const plan = buildPlan([serverPlan({ server: 'paris', unchanged: 10 }), serverPlan({ server: 'lyon', error: 'the server token was revoked' })]);
    const out = renderPlanText(plan);
    expect(lastLine(out)).toBe('No changes planned; 1 server failed (lyon).');
    expect(block(out, 'lyon')).toEqual(['Server lyon: failed, no changes planned', '  ! error: the server token was revoked']);
  });

  it('shows each group with its count, the first 10 serials and "… and K more"', () => {
    const plan = smallPlan();
    const out = renderPlanText(plan);
    const group = server(plan, 'paris').assign[0];
    if (!group) throw new Error('fixture changed');
    expect(out).toContain(`  + assign classroom-ipads (defined by this plan) to ${group.serials.length} devices\n`);
    const shown = group.serials.slice(0, 10);
    for (const serial of shown) expect(out).toContain(serial);
    expect(out).not.toContain(group.serials[10]);
    expect(out).toContain(`      … and ${group.serials.length - 10} more\n`);
  });

  it('honours maxSerialsPerGroup, including 0 for counts only, and rejects nonsense', () => {
    const plan = smallPlan();
    const group = server(plan, 'paris').assign[0]?.serials ?? [];
    const three = renderPlanText(plan, { maxSerialsPerGroup: 3 });
    expect(three).toContain(`${group.slice(0, 3).join(' ')}\n      … and ${group.length - 3} more`);
    const none = renderPlanText(plan, { maxSerialsPerGroup: 0 });
    expect(none).not.toContain(group[0]);
    expect(none).toContain(`… and ${group.length} more`);
    expect(() => renderPlanText(plan, { maxSerialsPerGroup: -1 })).toThrow(RangeError);
    expect(() => renderPlanText(plan, { maxSerialsPerGroup: 2.5 })).toThrow(RangeError);
  });

  it('marks assign from nothing with +, from another profile with ~, removals with -, drift and errors with !', () => {
    const out = renderPlanText(messyPlan());
    const paris = block(out, 'paris');
    expect(paris).toContain('  + define profile staff-macs (content changed, replaces C6D2FAFB875CA3A4AC0EB430C643A2A8, for 140 devices)');
    expect(paris).toContain('  ~ assign staff-macs (defined by this plan) to 140 devices, from staff-macs (earlier content)');
    expect(paris.some((l) => /^ {2}~ assign classroom-ipads to 4 devices, from foreign profile [0-9A-F]{32}$/.test(l))).toBe(true);
    expect(paris).toContain('  - remove old-lab from 25 devices');
    expect(paris).toContain('  > deferred until 2026-11-25T13:30:00Z: 3 devices (last status THROTTLED)');
    expect(paris).toContain('  ? conflict on 2 devices: match rules classroom-2026 and carts-2026 have priority 10 and different profiles');
    expect(paris.filter((l) => l.startsWith('  ! drift'))).toHaveLength(3);
    expect(out).toMatch(/^Markers: \+ define\/assign, ~ move from another profile, - remove, ! drift\/error, > deferred, \? conflict$/m);
  });

  it('says what a changed profile changes, key by key, with Apple defaults as values and long values cut', () => {
    const paris = block(renderPlanText(messyPlan()), 'paris');
    const at = paris.findIndex((l) => l.startsWith('  + define'));
    expect(paris.slice(at, at + 5)).toEqual([
      '  + define profile staff-macs (content changed, replaces C6D2FAFB875CA3A4AC0EB430C643A2A8, for 140 devices)',
      '      is_mdm_removable: false → true',
      '      skip_setup_items: added Privacy, Siri; removed Location',
      '      support_phone_number: "+33 1 23 45 67 89" → (not set)',
      '      url: "https://mdm.example.com/enroll" → "https://mdm.example.com/enroll/staff/macs?organisation=lyc…',
    ]);
    expect(paris[at + 5]).toMatch(/^ {2}~ assign staff-macs/);
  });

  it('names the earlier content the changes count from when a profile had several', () => {
    const plan = messyPlan();
    const d = server(plan, 'paris').defines[0];
    if (!d) throw new Error('fixture changed');
    d.previousUuids = ['AAAA0000AAAA0000AAAA0000AAAA0000', d.previousUuids[0] as string];
    d.changes = d.changes?.slice(0, 1);
    const paris = block(renderPlanText(plan), 'paris');
    const at = paris.findIndex((l) => l.startsWith('  + define'));
    expect(paris.slice(at + 1, at + 3)).toEqual(['      changes from C6D2FAFB875CA3A4AC0EB430C643A2A8:', '      is_mdm_removable: false → true']);
  });

  it('shows the content of a profile defined for the first time', () => {
    expect(block(renderPlanText(smallPlan()), 'paris').slice(1, 8)).toEqual([
      '  + define profile classroom-ipads (new, for 12 devices)',
      '      department: "Classrooms"',
      '      is_mdm_removable: false',
      '      is_supervised: true',
      '      profile_name: "Classroom iPads"',
      '      skip_setup_items: ["AppleID","Siri"]',
      '      url: "https://mdm.example.com/enroll/classrooms/ipads?organisati…',
    ]);
  });

  it('says what drifted devices carry now, what they should carry, since when, and what apply does', () => {
    const out = renderPlanText(messyPlan());
    const nice = block(out, 'nice');
    expect(nice.slice(1, 4)).toEqual([
      '  ! drift, profile changed outside depctl (6 devices): 6 device(s) now carry no profile instead of "staff-macs"; driftPolicy is "report": apply leaves them',
      '      now no profile → staff-macs, since unknown (Apple gave no time)',
      '      reported only (driftPolicy: report)',
    ]);
    const paris = block(out, 'paris');
    const changed = paris.findIndex((l) => l.startsWith('  ! drift, profile changed outside depctl'));
    expect(paris.slice(changed, changed + 4)).toEqual([
      '  ! drift, profile changed outside depctl (4 devices): 4 device(s) now carry "Portal Default" (foreign UUID D0960501…, not defined by depctl) instead of "classroom-ipads", since 2026-11-24; apply reassigns them',
      '      now "Portal Default" (foreign profile D0960501F8971BE812F2E5494426E08C) → classroom-ipads, since 2026-11-24T16:05:00Z',
      '      apply corrects it',
      '      DMQ000000000 DMQ000000001 DMQ000000002 DMQ000000003',
    ]);
    const token = paris.findIndex((l) => l.startsWith('  ! drift, token expiry'));
    expect(paris[token + 1]).toBe('      reported only; apply cannot fix it');
  });

  it('flags a server over maxChanges, in its block and after the summary', () => {
    const out = renderPlanText(messyPlan());
    expect(block(out, 'paris')[1]).toBe('  ! paris plans 170 changes, over its maxChanges of 100: apply needs --allow-large');
    expect(lastLine(out)).toBe('Apply needs --allow-large: paris plans 170 changes, over its maxChanges of 100.');
    expect(renderPlanText(smallPlan())).not.toContain('--allow-large');
  });

  it('says how many devices have an MDM migration deadline, the earliest, and how many the plan changes', () => {
    expect(block(renderPlanText(messyPlan()), 'paris')[2]).toBe(
      '      MDM migration: 12 devices must enroll with this server by their deadline, the earliest 2026-12-01T17:00:00Z; 4 of them change in this plan',
    );
    const quiet = buildPlan([serverPlan({ server: 'paris', unchanged: 3, migrationDeadlines: { devices: 1, earliest: '2026-12-01T17:00:00Z', planned: 0 } })]);
    expect(block(renderPlanText(quiet), 'paris')).toEqual([
      'Server paris: 3 devices, all as configured',
      '      MDM migration: 1 device must enroll with this server by their deadline, the earliest 2026-12-01T17:00:00Z; none of them changes in this plan',
    ]);
  });

  it('stays a screenful at 100,000 changes: output size depends on groups, not serials', () => {
    const big = largePlan();
    expect(big.summary.assign + big.summary.remove).toBe(100_000);
    const out = renderPlanText(big);
    const smaller = renderPlanText(largePlan({ changes: 60_000 }));
    expect(lines(out)).toHaveLength(lines(smaller).length);
    expect(lines(out).length).toBeLessThan(60);
    for (const g of server(big, 'paris').assign) {
      expect(out).toContain(`to ${n(g.serials.length)} devices`);
      expect(out).toContain(`… and ${n(g.serials.length - 10)} more`);
    }
    expect(lastLine(out)).toContain('paris plans 100,001 changes, over its maxChanges of 50,000');
    expect(out).toContain('Plan: 1 profile to define, 90,000 devices to assign, 10,000 to remove; 1 drift finding; 2,000 deferred.');
    expect(Math.max(...lines(out).filter((l) => l.startsWith('      C0')).map((l) => l.length))).toBeLessThanOrEqual(100);
  });

  it('lists at most maxSerialsPerGroup conflict messages, then counts the rest', () => {
    const out = renderPlanText(largePlan({ changes: 100, conflicts: 25 }), { maxSerialsPerGroup: 4 });
    expect(out.match(/^ {2}\? conflict on 1 device: /gm)).toHaveLength(4);
    expect(out).toContain('  ? … and 21 more conflicts (21 other messages)');
  });

  it('uses no ANSI colour unless asked, and colour changes nothing but escapes', () => {
    for (const plan of [messyPlan(), smallPlan(), inLinePlan()]) {
      const plain = renderPlanText(plan);
      expect(plain).not.toContain('\x1b');
      const coloured = renderPlanText(plan, { color: true });
      expect(stripAnsi(coloured)).toBe(plain);
    }
    const coloured = renderPlanText(messyPlan(), { color: true });
    expect(coloured).toContain('\x1b[32m+\x1b[0m define');
    expect(coloured).toContain('\x1b[31m-\x1b[0m remove');
    expect(coloured).toContain('\x1b[33m~\x1b[0m assign');
  });

  it('keeps control characters and line breaks from plan strings out of the terminal', () => {
    const out = renderPlanText(hostilePlan());
    expect(out).not.toContain('\x1b');
    expect(out).toContain('C02\uFFFD[31mRED');
    expect(out).toContain('  ! drift, profile depctl did not define (1 device): line one line two | `x` <img src=x>\n');
    expect(out).toContain('      now "Other MDM | <b>`x`</b>\uFFFD[2J" (foreign profile UU|ID<i>) → lab|<script>alert(1)</script>`rm`*bold*, since unknown (Apple gave no time)\n');
    expect(out).toContain('  ? conflict on 1 device: rules a|b and <c> clash\n');
    // Every line of a server block is its header, an indented entry or a blank separator.
    const body = lines(out).slice(lines(out).findIndex((l) => l.startsWith('Server ')), -3);
    for (const l of body) expect(l === '' || l.startsWith('Server ') || l.startsWith('  ')).toBe(true);
  });

  it('names the commit, short hashes and the creation time in the first line', () => {
    const plan = smallPlan();
    const first = lines(renderPlanText(plan))[0];
    expect(first).toBe(
      `depctl plan for commit ${plan.commit?.slice(0, 12)} (config ${plan.configHash.slice(0, 19)}, plan ${plan.planHash.slice(0, 19)}), made ${plan.createdAt}`,
    );
    expect(lines(renderPlanText(buildPlan(plan.servers, { commit: null })))[0]).toMatch(/^depctl plan for an uncommitted configuration /);
  });
});
