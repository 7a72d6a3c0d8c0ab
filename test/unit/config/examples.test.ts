import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../controller/config/load.js';
import { SCHEMA_DIR } from '../../../controller/config/schemas.js';
import { compileServerRules, decide } from '../../../controller/reconcile/desired.js';
import type { Device } from '../../../controller/dep/types.js';

const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));
/** Each example config repository: a non-hidden directory of examples/. */
const repos = readdirSync(examples, { withFileTypes: true })
  .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
  .map((e) => e.name)
  .sort();

/** Every YAML file below `dir`, skipping hidden directories as the loader does. */
function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.') && e.isDirectory()) continue;
    const abs = join(dir, e.name);
    if (e.isDirectory()) out.push(...yamlFiles(abs));
    else if (/\.ya?ml$/.test(e.name)) out.push(abs);
  }
  return out.sort();
}

function device(serial: string, device_family: string, model: string): Device {
  return { serial_number: serial, model, description: model.toUpperCase(), color: 'SILVER', device_family, profile_status: 'empty' };
}

describe('examples/', () => {
  it('holds a school and a company config repository, and no YAML outside them', () => {
    expect(repos).toEqual(['company', 'school']);
    for (const file of yamlFiles(examples)) expect(repos, relative(examples, file)).toContain(relative(examples, file).split('/')[0]);
  });

  it.each(repos)('%s validates without errors or warnings', async (repo) => {
    const r = await loadConfig(join(examples, repo));
    expect(r.problems).toEqual([]);
    expect(r.config).toBeDefined();
  });

  it('validates as one directory too (`depctl validate examples`): names and serials do not collide', async () => {
    const r = await loadConfig(examples);
    expect(r.problems).toEqual([]);
  });

  it('school covers what the README promises: two servers, profiles for iPads, Macs and Apple TV, every way to assign', async () => {
    const { config } = await loadConfig(join(examples, 'school'));
    expect(config?.servers.map((s) => s.name).sort()).toEqual(['lyon', 'paris']);
    const profiles = new Map(config?.profiles.map((p) => [p.name, p.profile]));
    expect(profiles.get('classroom-ipads')).toMatchObject({ is_supervised: true, is_multi_user: true });
    expect(profiles.get('staff-macs')?.await_device_configured).toBe(true);
    expect(profiles.get('lobby-appletv')?.auto_advance_setup).toBe(true);
    const byName = new Map(config?.assignments.map((a) => [a.name, a]));
    // Inline serials (one lower-case, normalised) plus the ABM CSV export.
    expect(byName.get('classroom-2025')?.serials).toContain('H4WQ9X7L2V');
    expect(byName.get('classroom-2025')?.serials).toContain('GQ7RWX2N4KPM');
    expect(byName.get('classroom-lyon')?.serials).toHaveLength(4);
    expect(byName.get('student-ipads-lyon')?.match).toEqual({ device_family: ['iPad'] });
    expect(config?.servers.find((s) => s.name === 'paris')).toEqual(
      expect.objectContaining({ defaultProfiles: { Mac: 'staff-macs', iPad: 'classroom-ipads' }, defaultProfile: 'staff-mobile', unassignedDevices: 'default' }),
    );
  });

  it('school: unassigned iPhones and Vision Pros on paris no longer get the staff Mac profile', async () => {
    const { config } = await loadConfig(join(examples, 'school'));
    if (!config) throw new Error('school example is invalid');
    const paris = compileServerRules(config, 'paris');
    const profileOf = (d: Device): string | undefined => {
      const decision = decide(paris, d);
      return decision.kind === 'profile' ? decision.profile : undefined;
    };
    expect(profileOf(device('C02ZZ1ABCD01', 'Mac', 'MacBook Air'))).toBe('staff-macs');
    expect(profileOf(device('DMPZZ1ABCD02', 'iPad', 'iPad (10th generation)'))).toBe('classroom-ipads');
    expect(profileOf(device('F2LZZ1ABCD03', 'iPhone', 'iPhone 16'))).toBe('staff-mobile');
    expect(profileOf(device('V1SZZ1ABCD04', 'Vision', 'Apple Vision Pro'))).toBe('staff-mobile');
  });

  it('company: every family DEP reports gets a fitting profile, and assignments win over the defaults', async () => {
    const { config } = await loadConfig(join(examples, 'company'));
    if (!config) throw new Error('company example is invalid');
    const rules = compileServerRules(config, 'northwind');
    const decided = (d: Device): unknown => {
      const decision = decide(rules, d);
      return decision.kind === 'profile' ? [decision.profile, decision.source] : decision.kind;
    };
    expect(decided(device('C02ZZ2ABCD01', 'Mac', 'MacBook Air'))).toEqual(['corporate-macs', 'default']);
    expect(decided(device('C02FN1ABQ05P', 'Mac', 'MacBook Pro'))).toEqual(['developer-macs', 'serial']);
    expect(decided(device('F2LZZ2ABCD03', 'iPhone', 'iPhone 16'))).toEqual(['corporate-mobile', 'default']);
    expect(decided(device('DMPZZ2ABCD02', 'iPad', 'iPad Air 11-inch (M2)'))).toEqual(['corporate-mobile', 'default']);
    expect(decided(device('DMPZZ2ABCD05', 'iPad', 'iPad mini (A17 Pro)'))).toEqual(['kiosk-ipads', 'match']);
    expect(decided(device('DMQWT7KLP2A1', 'iPad', 'iPad (10th generation)'))).toEqual(['kiosk-ipads', 'serial']);
    expect(decided(device('C07ZZ2ABCD06', 'AppleTV', 'Apple TV 4K'))).toEqual(['meeting-room-tv', 'default']);
    expect(decided(device('V1SZZ2ABCD04', 'Vision', 'Apple Vision Pro'))).toEqual(['vision-pro', 'default']);
    expect(decided(device('P0DZZ2ABCD07', 'iPod', 'iPod touch'))).toEqual(['corporate-mobile', 'default']);
  });

  it('every document of every example file names the document schema for editors (a modeline per document)', () => {
    const schema = resolve(SCHEMA_DIR, 'document.schema.json');
    for (const file of yamlFiles(examples)) {
      const docs = readFileSync(file, 'utf8').split(/^---$/m);
      docs.forEach((doc, i) => {
        const m = /^# yaml-language-server: \$schema=(\S+)$/m.exec(doc);
        expect(m, `${relative(examples, file)} document ${i + 1}`).not.toBeNull();
        expect(resolve(dirname(file), m?.[1] ?? ''), relative(examples, file)).toBe(schema);
      });
    }
  });

  it.each(repos)('%s/.vscode/settings.json maps the document schema to every YAML file of the example', (repo) => {
    const root = join(examples, repo);
    const settings = JSON.parse(readFileSync(join(root, '.vscode', 'settings.json'), 'utf8')) as { 'yaml.schemas': Record<string, string[]> };
    const entries = Object.entries(settings['yaml.schemas']);
    expect(entries).toHaveLength(1);
    const [schemaPath, patterns] = entries[0]!;
    // yaml-language-server resolves a relative schema path against the workspace folder.
    expect(resolve(root, schemaPath)).toBe(resolve(SCHEMA_DIR, 'document.schema.json'));
    expect(existsSync(resolve(root, schemaPath))).toBe(true);
    // Patterns are workspace-relative globs ("/" is the workspace folder, "*" stays within a directory).
    const regexes = patterns.map((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`));
    for (const file of yamlFiles(root)) {
      const rel = `/${relative(root, file)}`;
      expect(regexes.some((r) => r.test(rel)), rel).toBe(true);
    }
  });
});
