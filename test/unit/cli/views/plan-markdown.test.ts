import { describe, expect, it } from 'vitest';
import { summaryLine } from '../../../../controller/cli/views/plan-common.js';
import { escapeMarkdown, GITHUB_COMMENT_LIMIT, renderPlanMarkdown } from '../../../../controller/cli/views/plan-markdown.js';
import { buildPlan, hostilePlan, inLinePlan, largePlan, messyPlan, serverPlan, smallPlan } from '../../../helpers/plans.js';

/** Table rows: lines that start and end with a pipe. */
const rows = (md: string): string[] => md.split('\n').filter((l) => l.startsWith('| ') && l.endsWith(' |'));
/** Cell separators: pipes not escaped with a backslash. */
const cells = (row: string): number => (row.match(/(?<!\\)\|/g) ?? []).length - 1;
const count = (s: string, needle: string): number => s.split(needle).length - 1;

describe('renderPlanMarkdown', () => {
  it('opens with a heading that gives the verdict, then the summary line in bold', () => {
    expect(renderPlanMarkdown(inLinePlan())).toMatch(/^### ✅ depctl plan: no changes\n\n\*\*No changes\. Apple is in line with the configuration\.\*\*\n/);
    expect(renderPlanMarkdown(smallPlan())).toMatch(/^### 📝 depctl plan: changes to apply\n\n\*\*Plan: 1 profile to define, 15 devices to assign, 0 to remove; 0 drift findings; 0 deferred\.\*\*\n/);
    expect(renderPlanMarkdown(messyPlan())).toMatch(/^### ⛔ depctl plan: servers failed\n/);
    expect(renderPlanMarkdown(largePlan({ changes: 60_000 }))).toMatch(/^### 📝 depctl plan: changes to apply \(over maxChanges\)\n/);
    const driftOnly = buildPlan([messyPlan().servers[2] ?? serverPlan({ server: 'x' })]);
    expect(renderPlanMarkdown(driftOnly)).toMatch(/^### 🔎 depctl plan: no changes, findings to review\n\n\*\*No changes\. 1 drift finding\.\*\*/);
  });

  it('has a summary table with one row per server and its counts', () => {
    const md = renderPlanMarkdown(messyPlan());
    const table = rows(md).filter((r) => r.split('|').length === 11);
    expect(table[0]).toBe('| Server | Devices | Define | Assign | Remove | Drift | Deferred | Conflicts | Status |');
    expect(table.slice(1)).toEqual([
      '| paris | 5,169 | 1 | 144 | 25 | 3 | 3 | 3 | ⚠️ over maxChanges |',
      '| lyon | 800 | 0 | 0 | 0 | 0 | 0 | 0 | ⛔ Apple terms and conditions are not signed (T\\_C\\_NOT\\_SIGNED): accept them in Apple Business Manager |',
      '| nice | 200 | 0 | 0 | 0 | 1 | 0 | 0 | findings |',
    ]);
  });

  it('calls out failed servers and the --allow-large guardrail', () => {
    const md = renderPlanMarkdown(messyPlan());
    expect(md).toContain('> [!WARNING]\n> Apply needs `--allow-large`: paris plans 170 changes, over its maxChanges of 100.\n');
    expect(md).toContain('> [!CAUTION]\n> **lyon** failed, so its changes are unknown: Apple terms');
    expect(renderPlanMarkdown(smallPlan())).not.toContain('[!WARNING]');
  });

  it('calls out devices with an MDM migration deadline per server, and a NOT_ACCESSIBLE finding as left alone', () => {
    const md = renderPlanMarkdown(messyPlan());
    expect(md).toContain(
      '> [!IMPORTANT]\n> **paris**: MDM migration: 12 devices must enroll with this server by their deadline, the earliest 2026-12-01T17:00:00Z; 4 of them change in this plan\n>\n\n',
    );
    expect(renderPlanMarkdown(smallPlan())).not.toContain('[!IMPORTANT]');
    const message = '2 serial(s) are not accessible to this server (Apple answered NOT_ACCESSIBLE: moved to another MDM server in Apple Business Manager, or released)';
    const gone = buildPlan([serverPlan({ server: 'paris', unchanged: 3, drift: [{ kind: 'not-accessible', message, serials: ['S1', 'S2'], corrected: false }] })]);
    expect(rows(renderPlanMarkdown(gone))).toContain(
      `| paris | not accessible to this server: ${escapeMarkdown(message)} | — | — | 2 | left alone until Apple shows them on this server again (a sync event or an arrival) |`,
    );
  });

  it('has a drift section with one row per finding: what the devices carry now and should carry, since when, what apply does', () => {
    const md = renderPlanMarkdown(messyPlan());
    const section = md.slice(md.indexOf('#### Drift'), md.indexOf('#### Details'));
    expect(rows(section)[0]).toBe('| Server | Finding | Now → should carry | Since | Devices | On apply |');
    const driftRows = rows(section).slice(1);
    expect(driftRows).toEqual([
      '| paris | profile changed outside depctl: 4 device(s) now carry "Portal Default" (foreign UUID D0960501…, not defined by depctl) instead of "classroom-ipads", since 2026-11-24; apply reassigns them | "Portal Default" (foreign profile D0960501F8971BE812F2E5494426E08C) → classroom-ipads | 2026-11-24T16:05:00Z | 4 | apply corrects it |',
      '| paris | serials the server does not see: listed in assignment classroom-2026 but not assigned to this server | — | — | 2 | reported only; apply cannot fix it |',
      '| paris | token expiry: the server token expires on 2026-12-02 (in 7 days) | — | — | 0 | reported only; apply cannot fix it |',
      '| nice | profile changed outside depctl: 6 device(s) now carry no profile instead of "staff-macs"; driftPolicy is "report": apply leaves them | no profile → staff-macs | unknown (Apple gave no time) | 6 | reported only (driftPolicy: report) |',
    ]);
    expect(renderPlanMarkdown(smallPlan())).not.toContain('#### Drift');
  });

  it('puts details in one collapsible block per server with entries, serials truncated', () => {
    const md = renderPlanMarkdown(messyPlan());
    // lyon only failed: its callout says everything, so it gets no block.
    expect(count(md, '<details>')).toBe(2);
    expect(count(md, '</details>')).toBe(2);
    expect(md).toContain('<details><summary><b>paris</b>: 1 to define, 144 to assign, 25 to remove, 3 drift findings, 3 deferred, 3 conflicts</summary>\n\n- **+ define** staff-macs');
    expect(md).toMatch(/- \*\*~ assign\*\* staff-macs \(defined by this plan\) to 140 devices, from staff-macs \(earlier content\)<br>.*<br>C02000000000, .*, C02000000009 and 130 more\n/);
    expect(md).toContain('- **- remove** old-lab from 25 devices<br>');
    expect(md).toContain(
      '- **! drift** profile changed outside depctl: 4 device(s) now carry "Portal Default" (foreign UUID D0960501…, not defined by depctl) instead of "classroom-ipads", since 2026-11-24; apply reassigns them<br>now "Portal Default" (foreign profile D0960501F8971BE812F2E5494426E08C) → classroom-ipads, since 2026-11-24T16:05:00Z<br>apply corrects it<br>DMQ000000000, DMQ000000001, DMQ000000002, DMQ000000003\n',
    );
    expect(md).toContain('- **! drift** token expiry: the server token expires on 2026-12-02 (in 7 days)<br>reported only; apply cannot fix it\n');
    expect(md).toContain('- **&gt; deferred** until 2026-11-25T13:30:00Z: 3 devices (last status THROTTLED)<br>H4T000000000, H4T000000001, H4T000000002\n');
    expect(md).toContain('- **? conflict** 2 devices: match rules classroom-2026 and carts-2026 have priority 10 and different profiles<br>JK1000000000, JK1000000001\n');
    const three = renderPlanMarkdown(messyPlan(), { maxSerialsPerGroup: 3 });
    expect(three).toContain('<br>F9F000000000, F9F000000001, F9F000000002 and 22 more\n');
  });

  it('escapes names, serials and messages so they cannot break the table, open HTML or format', () => {
    const md = renderPlanMarkdown(hostilePlan());
    const driftAt = md.indexOf('#### Drift');
    expect(driftAt).toBeGreaterThan(0);
    const serverRows = rows(md.slice(0, driftAt));
    const driftRows = rows(md.slice(driftAt));
    expect(serverRows).toHaveLength(3);
    expect(driftRows).toHaveLength(2);
    for (const row of serverRows) expect(cells(row), row).toBe(9);
    for (const row of driftRows) expect(cells(row), row).toBe(6);
    expect(driftRows[1]).toContain('| "Other MDM \\| &lt;b&gt;\\`x\\`&lt;/b&gt;\uFFFD\\[2J" (foreign profile UU\\|ID&lt;i&gt;) → lab\\|&lt;script&gt;');
    // Only the renderer's own tags remain as HTML; every other < is an entity.
    expect(md.replace(/<\/?(details|summary|b|br|sub)>/g, '')).not.toContain('<');
    // Only the renderer's own code spans use bare backticks.
    expect(md.replace(/`(--allow-large|depctl plan|--format json)`/g, '')).not.toMatch(/(?<!\\)`/);
    expect(md).not.toContain('\x1b');
    expect(md).toContain('lab\\|&lt;script&gt;alert(1)&lt;/script&gt;\\`rm\\`\\*bold\\*');
    expect(md).toContain('AB\\|CD&lt;EF&gt;\\`G');
    expect(md).toContain('line one line two \\| \\`x\\` &lt;img src=x&gt;');
    // Raw HTML is not markdown: the summary escapes with entities only.
    expect(md).toContain('<summary><b>srv|a&lt;b&gt;</b>:');
  });

  it('escapeMarkdown neutralises markdown, HTML and line breaks', () => {
    expect(escapeMarkdown('a|b')).toBe('a\\|b');
    expect(escapeMarkdown('<b>&</b>')).toBe('&lt;b&gt;&amp;&lt;/b&gt;');
    expect(escapeMarkdown('`x` *y* _z_ [l](u) ~s~ $m$ #1 \\')).toBe('\\`x\\` \\*y\\* \\_z\\_ \\[l\\](u) \\~s\\~ \\$m\\$ \\#1 \\\\');
    expect(escapeMarkdown('one\ntwo\r\n')).toBe('one two');
  });

  it('stays under GitHub’s 65,536-character limit at 100,000 changes, however they are grouped', () => {
    const plans = {
      'few groups': largePlan(),
      '5,000 groups': largePlan({ groups: 5_000 }),
      '50,000 distinct conflicts': largePlan({ groups: 20, conflicts: 50_000 }),
      '3,000 servers': buildPlan(
        Array.from({ length: 3_000 }, (_, i) => serverPlan({ server: `server-${i}`, error: i % 2 === 0 ? `network: connect ETIMEDOUT 10.0.${i}.1:443` : null, unchanged: 5 })),
      ),
    };
    for (const [name, plan] of Object.entries(plans)) {
      expect(plan.summary.assign + plan.summary.remove, name).toBeGreaterThanOrEqual(name === '3,000 servers' ? 0 : 100_000);
      const md = renderPlanMarkdown(plan);
      expect(md.length, name).toBeLessThanOrEqual(60_000);
      expect(md.length, name).toBeLessThan(GITHUB_COMMENT_LIMIT);
      expect(count(md, '<details>'), name).toBe(count(md, '</details>'));
      expect(md, name).toMatch(/<sub>commit [0-9a-f]{12} · config sha256:[0-9a-f]{12} · plan sha256:[0-9a-f]{12} · made .*<\/sub>\n$/);
      expect(md.startsWith(`### `), name).toBe(true);
      expect(md, name).toContain(`**${summaryLine(plan)}**`);
    }
    expect(renderPlanMarkdown(largePlan())).not.toContain('Shortened');
    expect(renderPlanMarkdown(plans['5,000 groups'])).toMatch(/more entries left out to fit the comment size limit\n[\s\S]*> \[!NOTE\]\n> Shortened to fit/);
    expect(renderPlanMarkdown(plans['3,000 servers'])).toMatch(/\| … [0-9,]+ more servers \|/);
  });

  it('respects a smaller maxLength and refuses one too small to hold the essentials', () => {
    const md = renderPlanMarkdown(largePlan({ groups: 500 }), { maxLength: 8_000 });
    expect(md.length).toBeLessThanOrEqual(8_000);
    expect(md).toContain('Shortened to fit');
    expect(() => renderPlanMarkdown(smallPlan(), { maxLength: 100 })).toThrow(RangeError);
  });

  it('shows the truncation count of a 100,000-change group', () => {
    const plan = largePlan();
    const md = renderPlanMarkdown(plan);
    const first = plan.servers[0]?.assign[0];
    if (!first) throw new Error('fixture changed');
    expect(md).toContain(`${first.serials.slice(0, 10).join(', ')} and ${(first.serials.length - 10).toLocaleString('en-US')} more`);
  });

  it('lists what a changed profile changes under its define, with keys as code', () => {
    const md = renderPlanMarkdown(messyPlan());
    expect(md).toContain(
      '- **+ define** staff-macs (content changed, replaces C6D2FAFB875CA3A4AC0EB430C643A2A8, for 140 devices)' +
        '<br>`is_mdm_removable`: false → true' +
        '<br>`skip_setup_items`: added Privacy, Siri; removed Location' +
        '<br>`support_phone_number`: "+33 1 23 45 67 89" → (not set)' +
        '<br>`url`: "https://mdm.example.com/enroll" → "https://mdm.example.com/enroll/staff/macs?organisation=lyc…\n',
    );
  });

  it('collapses the content of a first define in <details>', () => {
    expect(renderPlanMarkdown(smallPlan())).toContain(
      '- **+ define** classroom-ipads (new, for 12 devices)<br><details><summary>content (6 keys)</summary>' +
        '`department`: "Classrooms"<br>`is_mdm_removable`: false<br>`is_supervised`: true<br>`profile_name`: "Classroom iPads"' +
        '<br>`skip_setup_items`: \\["AppleID","Siri"\\]<br>`url`: "https://mdm.example.com/enroll/classrooms/ipads?organisati…</details>\n',
    );
  });

  it('escapes profile values that would format or open HTML', () => {
    const plan = messyPlan();
    const d = plan.servers[0]?.defines[0];
    if (!d) throw new Error('fixture changed');
    d.changes = [{ key: 'department', before: '<b>IT</b>', after: '*Ops* | `x`' }];
    expect(renderPlanMarkdown(plan)).toContain('<br>`department`: "&lt;b&gt;IT&lt;/b&gt;" → "\\*Ops\\* \\| \\`x\\`"\n');
  });
});
