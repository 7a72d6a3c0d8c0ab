import { describe, expect, it } from 'vitest';
import { createMetrics, endpointLabel } from '../../../controller/server/metrics.js';
import type { ControllerStatus } from '../../../controller/reconcile/status.js';
import { sampleStatus } from './sample-status.js';

const NOW = new Date('2026-11-25T14:00:00.000Z');

/** The value of the one series whose line starts with `series ` (name plus exact label set). */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('createMetrics', () => {
  it('sets the status gauges from a snapshot', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const status = sampleStatus(NOW);
    m.updateFromStatus(status);
    const text = await m.registry.metrics();
    expect(value(text, 'depctl_devices{server="paris",profile="classroom-ipads"}')).toBe(800);
    expect(value(text, 'depctl_devices{server="paris",profile="(none)"}')).toBe(14);
    expect(value(text, 'depctl_devices{server="paris",profile="science & \\"labs\\""}')).toBe(20);
    expect(value(text, 'depctl_devices{server="lyon",profile="(other)"}')).toBe(6);
    expect(value(text, 'depctl_device_results{server="paris",result="throttled"}')).toBe(40);
    // Two drift entries of one kind are summed into one series.
    expect(value(text, 'depctl_drift_items{server="paris",kind="profile-changed"}')).toBe(4);
    expect(value(text, 'depctl_drift_items{server="paris",kind="serials-not-seen"}')).toBe(2);
    expect(value(text, 'depctl_deferred_serials{server="paris"}')).toBe(40);
    expect(value(text, 'depctl_deferred_serials{server="lyon"}')).toBe(0);
    const paris = status.servers[0]!;
    expect(value(text, 'depctl_token_expiry_timestamp_seconds{server="paris"}')).toBe(Date.parse(paris.tokenExpiresAt!) / 1000);
    expect(value(text, 'depctl_last_sync_timestamp_seconds{server="paris"}')).toBe(Date.parse(paris.lastSyncAt!) / 1000);
    expect(value(text, 'depctl_server_error{server="lyon"}')).toBe(1);
    expect(value(text, 'depctl_server_error{server="paris"}')).toBe(0);
    expect(value(text, 'depctl_server_problem{server="lyon",kind="terminal",reason="T_C_NOT_SIGNED"}')).toBe(1);
    expect(text).not.toMatch(/depctl_server_problem\{server="paris"/);
    expect(value(text, 'depctl_server_state{server="lyon",state="stopped"}')).toBe(1);
    expect(value(text, 'depctl_server_state{server="paris",state="partial"}')).toBe(1);
    expect(value(text, 'depctl_server_state{server="paris",state="converged"}')).toBe(0);
    expect(value(text, 'depctl_leader')).toBe(1);
    expect(value(text, 'depctl_condition{type="Ready",status="False"}')).toBe(1);
    expect(value(text, 'depctl_condition{type="Ready",status="True"}')).toBe(0);
    expect(value(text, 'depctl_build_info{version="0.1.0"}')).toBe(1);
    expect(value(text, 'depctl_refused_revision')).toBe(1);
    m.updateFromStatus({ ...status, refusedRevision: null });
    expect(value(await m.registry.metrics(), 'depctl_refused_revision')).toBe(0);
  });

  it('says nothing it does not know: no result, error or state series when the store or the pass could not say', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const s = sampleStatus(NOW);
    m.updateFromStatus({ ...s, servers: [{ ...s.servers[0]!, devicesByResult: null, state: null, problem: null }] });
    const text = await m.registry.metrics();
    expect(text).not.toMatch(/^depctl_device_results\{/m);
    expect(text).not.toMatch(/^depctl_server_error\{/m);
    expect(text).not.toMatch(/^depctl_server_state\{/m);
    expect(value(text, 'depctl_devices{server="paris",profile="classroom-ipads"}')).toBe(800);
  });

  it('drops series of servers that left the snapshot and omits unknown times', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const status = sampleStatus(NOW);
    m.updateFromStatus(status);
    const lyon = status.servers[1]!;
    m.updateFromStatus({ ...status, leader: false, servers: [{ ...lyon, tokenExpiresAt: null, tokenDaysLeft: null, lastSyncAt: null }] });
    const text = await m.registry.metrics();
    expect(text).not.toContain('server="paris"');
    expect(value(text, 'depctl_devices{server="lyon",profile="staff-macs"}')).toBe(50);
    expect(text).not.toMatch(/^depctl_token_expiry_timestamp_seconds\{/m);
    expect(text).not.toMatch(/^depctl_last_sync_timestamp_seconds\{/m);
    expect(value(text, 'depctl_leader')).toBe(0);
  });

  it('reads the gauges from the status source at scrape time', async () => {
    let current: ControllerStatus = sampleStatus(NOW);
    const m = createMetrics({ defaultMetrics: false, status: () => current });
    expect(value(await m.registry.metrics(), 'depctl_deferred_serials{server="paris"}')).toBe(40);
    const [paris, lyon] = current.servers;
    current = { ...current, servers: [{ ...paris!, deferred: 7 }, lyon!] };
    expect(value(await m.registry.metrics(), 'depctl_deferred_serials{server="paris"}')).toBe(7);
    m.setStatusSource(undefined);
    current = { ...current, servers: [] };
    // Without a source, the last values stay.
    expect(value(await m.registry.metrics(), 'depctl_deferred_serials{server="paris"}')).toBe(7);
  });

  it('counts runs and observes their duration by outcome', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordRun('success', 2);
    m.recordRun('success', 0.3);
    m.recordRun('error', 1);
    const text = await m.registry.metrics();
    expect(value(text, 'depctl_reconcile_runs_total{outcome="success"}')).toBe(2);
    expect(value(text, 'depctl_reconcile_runs_total{outcome="error"}')).toBe(1);
    expect(value(text, 'depctl_reconcile_duration_seconds_count{outcome="success"}')).toBe(2);
    expect(value(text, 'depctl_reconcile_duration_seconds_sum{outcome="success"}')).toBeCloseTo(2.3);
    expect(value(text, 'depctl_reconcile_duration_seconds_bucket{le="0.5",outcome="success"}')).toBe(1);
  });

  it('counts DEP requests with bounded labels and observes latency in seconds', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordDepRequest({ server: 'paris', method: 'POST', endpoint: '/server/devices', status: 200, durationMs: 120 });
    m.recordDepRequest({ server: 'paris', method: 'POST', endpoint: '/server/devices', status: 200, durationMs: 80 });
    m.recordDepRequest({ server: 'paris', method: 'GET', endpoint: '/profile?profile_uuid=88A1C2', status: 400, durationMs: 50 });
    m.recordDepRequest({ server: 'lyon', method: 'GET', endpoint: '/session', status: 'network-error', durationMs: 5000 });
    m.recordDepRequest({ server: 'lyon', method: 'GET', endpoint: '/devices/F9FXK1ABCD12', status: 404, durationMs: 10 });
    const text = await m.registry.metrics();
    expect(value(text, 'depctl_dep_requests_total{server="paris",method="POST",endpoint="/server/devices",status="200"}')).toBe(2);
    expect(value(text, 'depctl_dep_requests_total{server="paris",method="GET",endpoint="/profile",status="400"}')).toBe(1);
    expect(value(text, 'depctl_dep_requests_total{server="lyon",method="GET",endpoint="/session",status="network-error"}')).toBe(1);
    expect(value(text, 'depctl_dep_requests_total{server="lyon",method="GET",endpoint="other",status="404"}')).toBe(1);
    expect(text).not.toContain('profile_uuid');
    expect(text).not.toContain('F9FXK1ABCD12');
    expect(value(text, 'depctl_dep_request_duration_seconds_sum{server="paris",method="POST",endpoint="/server/devices"}')).toBeCloseTo(0.2);
    expect(value(text, 'depctl_dep_request_duration_seconds_bucket{le="0.1",server="paris",method="POST",endpoint="/server/devices"}')).toBe(1);
  });

  it('adds Node default metrics under their standard names (no prefix), in a registry of its own', async () => {
    const a = createMetrics();
    const b = createMetrics({ defaultMetrics: false });
    a.recordRun('noop', 0.1);
    const text = await a.registry.metrics();
    // Standard dashboards and alerts look for process_* and nodejs_*; only depctl's own series carry depctl_.
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    expect(text).not.toMatch(/^depctl_(process|nodejs)_/m);
    const other = await b.registry.metrics();
    expect(other).not.toContain('process_cpu');
    expect(value(other, 'depctl_reconcile_runs_total{outcome="noop"}')).toBeUndefined();
  });
});

describe('endpointLabel', () => {
  it('drops the query and folds unknown paths onto "other"', () => {
    expect(endpointLabel('/device/replacementDetails?device=F9FXK1ABCD12')).toBe('/device/replacementDetails');
    expect(endpointLabel('/profile/devices/')).toBe('/profile/devices');
    expect(endpointLabel('/devices/sync#x')).toBe('/devices/sync');
    expect(endpointLabel('/v1/orgDevices/F9FXK1ABCD12')).toBe('other');
  });
});
