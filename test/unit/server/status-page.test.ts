import { describe, expect, it } from 'vitest';
import { escapeHtml, renderStatusPage } from '../../../controller/server/status-page.js';
import type { ControllerStatus, ServerStatus } from '../../../controller/reconcile/status.js';
import type { DriftKind } from '../../../controller/reconcile/plan.js';
import type { ProblemReason } from '../../../controller/reconcile/outcome.js';
import type { RunResult } from '../../../controller/reconcile/ports.js';
import { sampleStatus } from './sample-status.js';

const NOW = new Date('2026-11-25T14:00:00.000Z');

/** The opening tag of the element carrying `data-testid="id"`, and the text up to its closing tag. */
function byTestId(html: string, id: string): { tag: string; text: string } | undefined {
  const m = new RegExp(`(<[a-z0-9]+[^>]*data-testid="${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"[^>]*>)([\\s\\S]*?)</`).exec(html);
  return m ? { tag: m[1]!, text: m[2]! } : undefined;
}

function withServer(patch: Partial<ServerStatus>): ControllerStatus {
  const s = sampleStatus(NOW);
  return { ...s, servers: [{ ...s.servers[0]!, ...patch }] };
}

describe('renderStatusPage', () => {
  it('shows the key figures under stable test ids', () => {
    const html = renderStatusPage(sampleStatus(NOW), { now: NOW });
    expect(byTestId(html, 'devices-paris')?.tag).toContain('data-value="1234"');
    expect(byTestId(html, 'devices-paris')?.text).toBe('1,234');
    expect(byTestId(html, 'devices-lyon')?.text).toBe('56');
    expect(byTestId(html, 'token-days-paris')?.text).toBe('21 d');
    expect(byTestId(html, 'token-days-lyon')?.text).toBe('200 d');
    expect(byTestId(html, 'deferred-paris')?.text).toBe('40');
    expect(byTestId(html, 'drift-paris')?.text).toBe('6');
    expect(byTestId(html, 'profile-paris-classroom-ipads')?.text).toBe('800');
    expect(byTestId(html, 'result-paris-throttled')?.text).toBe('40');
    expect(byTestId(html, 'condition-Ready')?.tag).toContain('data-status="False"');
    expect(byTestId(html, 'condition-Ready-reason')?.text).toBe('<code>PartialApply');
    expect(byTestId(html, 'last-applied-revision')?.text).toBe('<code title="3f2a9c1d4e5b6a7980a1b2c3d4e5f60718293a4b">3f2a9c1d4e5b');
    expect(byTestId(html, 'run-42-result')?.text).toBe('<span class="badge warn">partial');
    expect(byTestId(html, 'error-lyon')?.text).toContain('T_C_NOT_SIGNED');
    expect(byTestId(html, 'error-paris')).toBeUndefined();
  });

  it('highlights tokens under 30 days, urgently under 7, and says when one expired', () => {
    const cls = (s: ControllerStatus): string => /<div class="figure ([a-z]*)"[^>]*><span class="label">Token expires in/.exec(renderStatusPage(s))?.[1] ?? 'missing';
    expect(cls(withServer({ tokenDaysLeft: 30 }))).toBe('');
    expect(cls(withServer({ tokenDaysLeft: 29 }))).toBe('warn');
    expect(cls(withServer({ tokenDaysLeft: 6 }))).toBe('bad');
    expect(cls(withServer({ tokenDaysLeft: null, tokenExpiresAt: null }))).toBe('');
    const expired = renderStatusPage(withServer({ tokenDaysLeft: -3 }));
    expect(byTestId(expired, 'token-days-paris')?.text).toBe('expired 3 d ago');
    expect(byTestId(renderStatusPage(withServer({ tokenDaysLeft: null, tokenExpiresAt: null })), 'token-days-paris')?.text).toBe('unknown');
  });

  it('escapes every value that comes from config or Apple', () => {
    const evil = '<script>alert("x")</script>';
    const s = sampleStatus(NOW);
    const status: ControllerStatus = {
      ...s,
      lastError: `<img src=x onerror=alert(1)>`,
      refusedRevision: { revision: 'abc"def', message: evil },
      conditions: [{ type: 'Ready', status: 'False', reason: '<b>R</b>', message: evil, lastTransitionTime: NOW.toISOString() }],
      servers: [{ ...s.servers[0]!, devicesByProfile: { [evil]: 3, "o'brien": 1 }, drift: [{ kind: '<k>' as DriftKind, message: evil, count: 1, current: '<cur>', desired: '<des>', since: null }], problem: { server: 'paris', kind: 'terminal', reason: '<why>' as ProblemReason, message: evil, retryAt: null } }],
      recentRuns: [{ ...s.recentRuns[0]!, trigger: '<t>', result: '<r>' as RunResult, commit: '<c>', counts: { '<n>': 2 } }],
      version: '<v>',
    };
    const html = renderStatusPage(status, { now: NOW });
    expect(html).not.toMatch(/<script|<img|<b>|<k>|<t>|<r>|<c>|<n>|<v>|<cur>|<des>|<why>/);
    expect(html).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;');
    expect(html).toContain('o&#39;brien');
    // A profile name in a test id stays inside its attribute.
    expect(html).toContain(`data-testid="profile-paris-${escapeHtml(evil)}"`);
    expect(html).toContain('title="abc&#34;def"');
  });

  it('the header badge follows Ready, not the phase', () => {
    const s = sampleStatus(NOW);
    const notReady = renderStatusPage(s, { now: NOW });
    expect(byTestId(notReady, 'ready')?.tag).toContain('class="badge bad"');
    expect(byTestId(notReady, 'ready')?.text).toBe('not ready · PartialApply');
    // The idle phase is not painted green while Ready is False.
    expect(byTestId(notReady, 'phase')?.tag).toContain('class="badge "');
    const ready = renderStatusPage({ ...s, conditions: [{ type: 'Ready', status: 'True', reason: 'ReconciliationSucceeded', message: 'revision x is applied', lastTransitionTime: NOW.toISOString() }] }, { now: NOW });
    expect(byTestId(ready, 'ready')?.tag).toContain('class="badge good"');
    expect(byTestId(ready, 'ready')?.text).toBe('ready');
    const unknown = renderStatusPage({ ...s, conditions: [] }, { now: NOW });
    expect(byTestId(unknown, 'ready')?.text).toBe('ready: unknown');
  });

  it('shows drift as what the devices carry now, what they should carry and since when', () => {
    const html = renderStatusPage(sampleStatus(NOW), { now: NOW });
    expect(html).toContain('<td>Other MDM</td><td>classroom-ipads</td><td><time datetime="2026-11-23T14:00:00.000Z">2026-11-23 14:00:00 UTC</time>');
  });

  it('says results are unknown when the store could not count them, and shows the typed problem', () => {
    const html = renderStatusPage(withServer({ devicesByResult: null }), { now: NOW });
    expect(byTestId(html, 'results-unknown-paris')?.text).toBe('unknown (the store did not answer)');
    const lyon = renderStatusPage(sampleStatus(NOW), { now: NOW });
    expect(byTestId(lyon, 'error-lyon')?.tag).toContain('data-reason="T_C_NOT_SIGNED"');
  });

  it('names the Apple MDM server each token belongs to, or says it is not known yet', () => {
    const html = renderStatusPage(sampleStatus(NOW), { now: NOW });
    expect(byTestId(html, 'account-paris')?.tag).toContain('data-uuid="6666ED66666666666666666666666666"');
    expect(byTestId(html, 'account-paris')?.text).toBe('Paris MDM <code>6666ED66666666666666666666666666');
    expect(byTestId(html, 'org-paris')?.text).toBe('Lycée Voltaire <span class="muted">(edu, id 6666666)');
    expect(byTestId(html, 'account-checked-paris')?.text).toBe('<time datetime="2026-11-25T13:55:00.000Z">2026-11-25 13:55:00 UTC');
    expect(byTestId(html, 'account-lyon')?.text).toBe('not known yet (Apple has not answered GET /account)');
    const evil = renderStatusPage(withServer({ account: { serverUuid: '"><b>', serverName: '<i>x</i>', orgName: '<u>', orgType: null, orgId: null, checkedAt: null } }));
    expect(evil).not.toMatch(/<b>|<i>|<u>/);
    expect(byTestId(evil, 'org-paris')?.text).toBe('&#60;u&#62;');
  });

  it('shows the next retry and failed attempts of deferred serials, and MDM migration deadlines', () => {
    const html = renderStatusPage(sampleStatus(NOW), { now: NOW });
    expect(html).toContain('<h4>Waiting for a retry</h4>');
    expect(byTestId(html, 'attempts-paris-FAILED')?.text).toBe('2');
    expect(html).toContain('<time datetime="2026-11-25T14:55:00.000Z">2026-11-25 14:55:00 UTC</time> <span class="muted">(in 55 min)</span></td><td><code>FAILED</code>');
    expect(byTestId(html, 'migration-paris')?.text).toBe('12');
    // lyon: no pass planned it here (retries unknown) and no deadlines: neither is shown.
    expect(html).not.toMatch(/attempts-lyon|migration-lyon/);
  });

  it('is self-contained: no script, no external resource', () => {
    const html = renderStatusPage(sampleStatus(NOW), { now: NOW, refreshSeconds: 30 });
    expect(html).not.toMatch(/<script|<link|<iframe|\ssrc=|url\(/i);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<meta http-equiv="refresh" content="30">');
    expect(renderStatusPage(sampleStatus(NOW))).not.toContain('http-equiv="refresh"');
  });

  it('shows revisions, the refusal, and times relative to now', () => {
    const html = renderStatusPage(sampleStatus(NOW), { now: NOW });
    expect(byTestId(html, 'next-run')?.text).toBe('<time datetime="2026-11-25T14:04:00.000Z">2026-11-25 14:04:00 UTC');
    expect(html).toContain('2026-11-25 14:04:00 UTC</time> <span class="muted">(in 4 min)</span>');
    expect(html).toContain('(5 min ago)');
    const refused = /data-testid="refused-revision">([\s\S]*?)<\/dd>/.exec(html)?.[1] ?? '';
    expect(refused).toContain('9e8d7c6b5a4f');
    expect(refused).toContain('unknown profile &#34;science-macs&#34;');
  });

  it('renders an empty, starting controller', () => {
    const html = renderStatusPage({
      phase: 'starting', leader: false, conditions: [], lastAppliedRevision: null, lastAttemptedRevision: null,
      refusedRevision: null, nextRunAt: null, lastError: null, servers: [], recentRuns: [], version: '0.1.0',
    });
    expect(byTestId(html, 'phase')?.text).toBe('starting');
    expect(byTestId(html, 'leader')?.text).toBe('follower (read-only)');
    expect(html).toContain('No run yet.');
    expect(html).toContain('No MDM server is configured yet.');
    expect(byTestId(html, 'last-applied-revision')?.text).toBe('<span class="muted">none');
  });
});
