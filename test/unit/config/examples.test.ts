import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../controller/config/load.js';

const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));

describe('examples/', () => {
  it('validates without errors or warnings', async () => {
    const r = await loadConfig(examples);
    expect(r.problems).toEqual([]);
    expect(r.config).toBeDefined();
  });

  it('covers what the README promises: two servers, profiles for iPads, Macs and Apple TV, every way to assign', async () => {
    const { config } = await loadConfig(examples);
    expect(config?.servers.map((s) => s.name).sort()).toEqual(['lyon', 'paris']);
    const profiles = new Map(config?.profiles.map((p) => [p.name, p.profile]));
    expect(profiles.get('classroom-ipads')?.is_supervised).toBe(true);
    expect(profiles.get('staff-macs')?.await_device_configured).toBe(true);
    expect(profiles.get('lobby-appletv')?.auto_advance_setup).toBe(true);
    const byName = new Map(config?.assignments.map((a) => [a.name, a]));
    // Inline serials (one lower-case, normalised) plus the ABM CSV export.
    expect(byName.get('classroom-2025')?.serials).toContain('H4WQ9X7L2V');
    expect(byName.get('classroom-2025')?.serials).toContain('GQ7RWX2N4KPM');
    expect(byName.get('classroom-lyon')?.serials).toHaveLength(4);
    expect(byName.get('student-ipads-lyon')?.match).toEqual({ device_family: ['iPad'] });
    expect(config?.servers.find((s) => s.name === 'paris')).toEqual(expect.objectContaining({ defaultProfile: 'staff-macs', unassignedDevices: 'default' }));
  });
});
