import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../controller/server/metrics.js';

describe('metrics: device ownership (issue 15)', () => {
  it('sets the open activities, pending moves and error gauges per organization and counts finished devices', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordOwnership({ organization: 'acme', openActivities: 2, pendingMoves: 0, error: false, moved: 0, notMoved: 0 });
    m.recordOwnership({ organization: 'acme', openActivities: 0, pendingMoves: 5, error: false, moved: 1495, notMoved: 5 });
    m.recordOwnership({ organization: 'beta', openActivities: 0, pendingMoves: 0, error: true, moved: 0, notMoved: 0 });
    const text = await m.registry.metrics();
    expect(text).toContain('depctl_abm_activities_open{organization="acme"} 0');
    expect(text).toContain('depctl_abm_pending_moves{organization="acme"} 5');
    expect(text).toContain('depctl_abm_organization_error{organization="beta"} 1');
    expect(text).toContain('depctl_abm_organization_error{organization="acme"} 0');
    expect(text).toContain('depctl_abm_devices_total{organization="acme",outcome="moved"} 1495');
    expect(text).toContain('depctl_abm_devices_total{organization="acme",outcome="not-moved"} 5');
    expect(text).not.toContain('organization="beta",outcome');
  });
});
